//! `cargo xtask build`: the user programs, packed into the bootfs, then the kernel.
//!
//! Guarantees: everything freestanding is built with an explicit `--target`, so the
//! frame-pointer RUSTFLAGS reach the kernel and user code but never host build scripts; a
//! failed cargo build is an error naming what failed. With no user programs there is no
//! bootfs and QEMU gets no `-initrd`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::bootfs;
use crate::workspace::{cargo, Workspace};

/// The one target everything freestanding is built for; the kernel links itself with its own
/// linker script and entry, so the host triple needs no custom target file.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Frame pointers make the kernel's panic backtraces walkable without unwind tables.
pub const RUSTFLAGS: &str = "-C force-frame-pointers=yes";

pub const KERNEL_PACKAGE: &str = "tessera-kernel";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    fn dir_name(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// What a build produced.
#[derive(Debug)]
pub struct Artifacts {
    pub kernel: PathBuf,
    /// The ustar archive of user programs, absent when there are none.
    pub bootfs: Option<PathBuf>,
}

/// The kernel ELF a build of `profile` leaves behind.
pub fn kernel_path(ws: &Workspace, profile: Profile) -> PathBuf {
    output_dir(ws, profile).join(KERNEL_PACKAGE)
}

pub fn build(ws: &Workspace, profile: Profile) -> Result<Artifacts> {
    build_with(ws, profile, &[])
}

/// `build`, with the kernel's cargo features `kernel_features` (`trace`).
pub fn build_with(ws: &Workspace, profile: Profile, kernel_features: &[&str]) -> Result<Artifacts> {
    let bootfs = if ws.programs.is_empty() {
        None
    } else {
        let packages: Vec<&str> = ws.programs.iter().map(|p| p.package.as_str()).collect();
        build_freestanding(ws, profile, &packages, &[])?;
        let entries: Vec<(String, PathBuf)> = ws
            .programs
            .iter()
            .flat_map(|p| &p.bins)
            .map(|bin| (bin.clone(), output_dir(ws, profile).join(bin)))
            .collect();
        let archive = ws.tessera_dir().join("bootfs.tar");
        bootfs::pack(&entries, &archive)?;
        Some(archive)
    };
    build_freestanding(ws, profile, &[KERNEL_PACKAGE], kernel_features)?;
    let kernel = kernel_path(ws, profile);
    if !kernel.is_file() {
        bail!(
            "cargo built {KERNEL_PACKAGE} but {} does not exist",
            kernel.display()
        );
    }
    Ok(Artifacts { kernel, bootfs })
}

/// Where a build of `profile` leaves the kernel and the user programs.
pub fn output_dir(ws: &Workspace, profile: Profile) -> PathBuf {
    ws.target_dir.join(TARGET).join(profile.dir_name())
}

fn build_freestanding(
    ws: &Workspace,
    profile: Profile,
    packages: &[&str],
    features: &[&str],
) -> Result<()> {
    let mut command = cargo(&ws.root);
    command.args(["build", "--target", TARGET]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    for package in packages {
        command.args(["-p", package]);
    }
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    // CARGO_ENCODED_RUSTFLAGS would take precedence over RUSTFLAGS.
    command
        .env("RUSTFLAGS", RUSTFLAGS)
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    let what = packages.join(", ");
    let status = command
        .status()
        .with_context(|| format!("could not run cargo to build {what}"))?;
    if !status.success() {
        bail!("building {what} failed ({status})");
    }
    Ok(())
}
