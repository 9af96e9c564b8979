//! The workspace as cargo sees it: its root, its target directory and its user programs (init
//! and every entry of the system table, `tessera_system::PROGRAMS`).
//!
//! Guarantees: paths come from `cargo metadata`, so a `CARGO_TARGET_DIR` set by the caller is
//! honoured and nothing is hard-coded but the location of this crate inside the workspace.
//! Assumes: xtask sits one directory below the workspace root (`<root>/xtask`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// A crate under `user/` named by the system table (or init).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProgram {
    pub package: String,
    /// The binaries packed into the bootfs, each as an entry of the same name: the one named
    /// like the crate.
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
        let names: Vec<&str> = std::iter::once(tessera_system::INIT)
            .chain(tessera_system::PROGRAMS.iter().map(|p| p.name))
            .collect();
        let programs = user_programs(&metadata, &root.join("user"), &names)?;
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

/// The crates under `user_dir` named `names`, each with a binary of its own name.
fn user_programs(metadata: &Value, user_dir: &Path, names: &[&str]) -> Result<Vec<UserProgram>> {
    let packages = metadata["packages"]
        .as_array()
        .context("`cargo metadata` gave no packages")?;
    let under_user = |package: &&Value| {
        package["manifest_path"]
            .as_str()
            .is_some_and(|m| Path::new(m).starts_with(user_dir))
    };
    let mut programs = Vec::new();
    for &name in names {
        let package = packages
            .iter()
            .filter(under_user)
            .find(|p| p["name"].as_str() == Some(name))
            .with_context(|| {
                format!(
                    "the system table names `{name}`, but no crate under {} has that name",
                    user_dir.display()
                )
            })?;
        let has_bin = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| {
                t["name"].as_str() == Some(name)
                    && t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "bin"))
            });
        if !has_bin {
            bail!("user program `{name}` has no binary target named `{name}`");
        }
        programs.push(UserProgram {
            package: name.to_owned(),
            bins: vec![name.to_owned()],
        });
    }
    Ok(programs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn package(name: &str, dir: &str, bins: &[&str]) -> Value {
        let mut targets: Vec<Value> = bins
            .iter()
            .map(|b| json!({"kind": ["bin"], "name": b}))
            .collect();
        targets.push(json!({"kind": ["lib"], "name": name}));
        json!({
            "name": name,
            "manifest_path": format!("/ws/{dir}/Cargo.toml"),
            "targets": targets,
        })
    }

    #[test]
    fn zero_programs_is_fine() {
        let metadata = json!({"packages": [package("tessera-abi", "abi", &[])]});
        assert_eq!(
            user_programs(&metadata, Path::new("/ws/user"), &[]).unwrap(),
            vec![]
        );
    }

    #[test]
    fn only_the_named_crates_under_user_are_programs() {
        let metadata = json!({"packages": [
            package("init", "user/init", &["init"]),
            package("shell", "user/shell", &["shell", "sh-test"]),
            package("ulib", "user/ulib", &[]),
            package("off", "user/off", &["off"]),
            package("outsider", "tools/outsider", &["outsider"]),
        ]});
        let got = user_programs(&metadata, Path::new("/ws/user"), &["init", "shell"]).unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|p| (p.package.as_str(), p.bins.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("init", vec!["init".to_owned()]),
                ("shell", vec!["shell".to_owned()]),
            ]
        );
    }

    #[test]
    fn a_named_crate_without_its_binary_or_outside_user_is_refused() {
        let metadata = json!({"packages": [
            package("lonely", "user/lonely", &[]),
            package("other", "user/other", &["another"]),
            package("outsider", "tools/outsider", &["outsider"]),
        ]});
        for name in ["lonely", "other", "outsider", "missing"] {
            assert!(
                user_programs(&metadata, Path::new("/ws/user"), &[name]).is_err(),
                "{name}"
            );
        }
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
