//! Makes sure QEMU is there: CI runs on fresh machines as root, where xtask installs it.
//!
//! Guarantees: packages are installed only when running as root with `apt-get` available, and
//! the user is told before it happens; otherwise the missing tool is reported with the exact
//! command that installs it, and the command fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::qemu::QEMU;
use crate::Reported;

const PACKAGE: &str = "qemu-system-x86";

pub fn ensure_qemu() -> Result<()> {
    if find_in_path(QEMU).is_some() {
        return Ok(());
    }
    if !is_root() || find_in_path("apt-get").is_none() {
        eprintln!("{QEMU} is missing: run  sudo apt-get install --no-install-recommends {PACKAGE}");
        return Err(Reported.into());
    }
    println!("{QEMU} is missing: installing {PACKAGE} with apt-get (running as root)");
    apt_get(&["update"])?;
    // Recommends would pull in hundreds of GUI and codec packages a headless QEMU never uses.
    apt_get(&["install", "-y", "--no-install-recommends", PACKAGE])?;
    if find_in_path(QEMU).is_none() {
        bail!("installed {PACKAGE} but {QEMU} is still not on PATH");
    }
    Ok(())
}

fn apt_get(args: &[&str]) -> Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("could not run apt-get")?;
    if !status.success() {
        bail!("`apt-get {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The first executable file called `name` in a directory of `$PATH`.
fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether the effective user is root, from `/proc/self/status` (no libc needed).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|status| effective_uid(&status) == Some(0))
}

/// The effective uid: the second number of the `Uid:` line (real, effective, saved, fs).
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_uid_is_the_second_field() {
        assert_eq!(
            effective_uid("Name:\tx\nUid:\t1000\t0\t1000\t1000\nGid:\t0\n"),
            Some(0)
        );
        assert_eq!(effective_uid("Uid:\t0\t1000\t0\t0\n"), Some(1000));
        assert_eq!(effective_uid("Gid:\t0\t0\t0\t0\n"), None);
        assert_eq!(effective_uid("Uid:\tx\ty\n"), None);
    }

    #[test]
    fn path_lookup_finds_executables_only() {
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("surely-no-such-tool-exists-here").is_none());
        assert!(!is_executable(Path::new("/etc/passwd")));
        assert!(!is_executable(Path::new("/")));
    }
}
