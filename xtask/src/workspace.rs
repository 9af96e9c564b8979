//! The workspace as cargo sees it: its root, its target directory and its user programs.
//!
//! Guarantees: paths come from `cargo metadata`, so a `CARGO_TARGET_DIR` set by the caller is
//! honoured and nothing is hard-coded but the location of this crate inside the workspace.
//! Assumes: xtask sits one directory below the workspace root (`<root>/xtask`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// A package under `user/` marked `[package.metadata.tessera] program = true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProgram {
    pub package: String,
    /// The package's binary targets; each becomes one bootfs entry of the same name.
    pub bins: Vec<String>,
}

#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub programs: Vec<UserProgram>,
}

impl Workspace {
    pub fn load() -> Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask's manifest directory has no parent")?
            .to_path_buf();
        let output = cargo(&root)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .stderr(Stdio::inherit())
            .output()
            .context("could not run `cargo metadata`")?;
        if !output.status.success() {
            bail!("`cargo metadata` failed ({})", output.status);
        }
        let metadata: Value = serde_json::from_slice(&output.stdout)
            .context("`cargo metadata` printed invalid JSON")?;
        let target_dir = metadata["target_directory"]
            .as_str()
            .context("`cargo metadata` gave no target_directory")?
            .into();
        let programs = user_programs(&metadata, &root.join("user"))?;
        Ok(Workspace {
            root,
            target_dir,
            programs,
        })
    }

    /// `target/tessera`: the bootfs, the QEMU logs and the bench results.
    pub fn tessera_dir(&self) -> PathBuf {
        self.target_dir.join("tessera")
    }

    /// Where one boot's QEMU output is kept.
    pub fn log_path(&self, boot_name: &str) -> PathBuf {
        let safe: String = boot_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.tessera_dir().join("logs").join(format!("{safe}.log"))
    }
}

/// A `cargo` command run in the workspace root, by the same cargo that runs xtask.
pub fn cargo(root: &Path) -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(program);
    command.current_dir(root);
    command
}

/// The programs among `cargo metadata`'s packages: those under `user_dir` that opt in.
fn user_programs(metadata: &Value, user_dir: &Path) -> Result<Vec<UserProgram>> {
    let packages = metadata["packages"]
        .as_array()
        .context("`cargo metadata` gave no packages")?;
    let mut programs = Vec::new();
    for package in packages {
        let name = package["name"]
            .as_str()
            .context("a package without a name")?;
        let manifest = package["manifest_path"]
            .as_str()
            .with_context(|| format!("package `{name}` has no manifest_path"))?;
        let marked = package["metadata"]["tessera"]["program"].as_bool() == Some(true);
        if !marked || !Path::new(manifest).starts_with(user_dir) {
            continue;
        }
        let bins: Vec<String> = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        if bins.is_empty() {
            bail!("user program `{name}` is marked `program = true` but has no binary target");
        }
        programs.push(UserProgram {
            package: name.to_owned(),
            bins,
        });
    }
    Ok(programs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn package(name: &str, dir: &str, program: Option<bool>, bins: &[&str]) -> Value {
        let mut targets: Vec<Value> = bins
            .iter()
            .map(|b| json!({"kind": ["bin"], "name": b}))
            .collect();
        targets.push(json!({"kind": ["lib"], "name": name}));
        let metadata = match program {
            Some(p) => json!({"tessera": {"program": p}}),
            None => Value::Null,
        };
        json!({
            "name": name,
            "manifest_path": format!("/ws/{dir}/Cargo.toml"),
            "metadata": metadata,
            "targets": targets,
        })
    }

    #[test]
    fn zero_programs_is_fine() {
        let metadata = json!({"packages": [package("tessera-abi", "abi", None, &[])]});
        assert_eq!(
            user_programs(&metadata, Path::new("/ws/user")).unwrap(),
            vec![]
        );
    }

    #[test]
    fn only_marked_packages_under_user_are_programs() {
        let metadata = json!({"packages": [
            package("init", "user/init", Some(true), &["init"]),
            package("shell", "user/shell", Some(true), &["shell", "sh-test"]),
            package("ulib", "user/ulib", None, &[]),
            package("off", "user/off", Some(false), &["off"]),
            package("outsider", "tools/outsider", Some(true), &["outsider"]),
        ]});
        let got = user_programs(&metadata, Path::new("/ws/user")).unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|p| (p.package.as_str(), p.bins.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("init", vec!["init".to_owned()]),
                ("shell", vec!["shell".to_owned(), "sh-test".to_owned()]),
            ]
        );
    }

    #[test]
    fn a_marked_package_without_binaries_is_refused() {
        let metadata = json!({"packages": [package("lonely", "user/lonely", Some(true), &[])]});
        assert!(user_programs(&metadata, Path::new("/ws/user")).is_err());
    }

    #[test]
    fn log_names_are_made_path_safe() {
        let ws = Workspace {
            root: "/ws".into(),
            target_dir: "/ws/target".into(),
            programs: vec![],
        };
        assert_eq!(
            ws.log_path("ktest-cap::derive/bad"),
            PathBuf::from("/ws/target/tessera/logs/ktest-cap__derive_bad.log")
        );
    }
}
