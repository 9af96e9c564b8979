//! The lints stage of `cargo xtask test`, run first: the tree is `rustfmt`-clean and `clippy`
//! finds nothing, with warnings denied, on the host crates (every target: tests and benches
//! too) and on the kernel and the user programs built for the freestanding target.
//!
//! Guarantees: each check counts as one test, passed or failed; a check that cannot run
//! (rustfmt or clippy missing and not installable) is a failure, never a skip.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::build::{KERNEL_PACKAGE, RUSTFLAGS, TARGET};
use crate::ktest::Judgement;
use crate::workspace::{cargo, Workspace};

/// Runs the three checks and judges them.
pub fn run(ws: &Workspace) -> Result<Judgement> {
    ensure_components()?;
    let mut judgement = Judgement::default();
    let mut check = |name: &str, mut command: Command| {
        println!("\n--> {name}");
        match command.status() {
            Ok(s) if s.success() => judgement.counts.passed += 1,
            Ok(s) => {
                judgement.counts.failed += 1;
                judgement.problems.push(format!("{name}: failed ({s})"));
            }
            Err(e) => {
                judgement.counts.failed += 1;
                judgement
                    .problems
                    .push(format!("{name}: could not run: {e}"));
            }
        }
    };
    let mut fmt = cargo(&ws.root);
    fmt.args(["fmt", "--all", "--check"]);
    check("cargo fmt --all --check", fmt);
    let mut host = cargo(&ws.root);
    host.args([
        "clippy",
        "--release",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    check("cargo clippy (host crates, every target) -D warnings", host);
    let mut freestanding = cargo(&ws.root);
    freestanding.args([
        "clippy",
        "--release",
        "--target",
        TARGET,
        "-p",
        KERNEL_PACKAGE,
    ]);
    for program in &ws.programs {
        freestanding.args(["-p", &program.package]);
    }
    freestanding
        .args(["--", "-D", "warnings"])
        .env("RUSTFLAGS", RUSTFLAGS)
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    check(
        "cargo clippy (kernel and user programs, freestanding) -D warnings",
        freestanding,
    );
    Ok(judgement)
}

/// rustfmt and clippy come with the toolchain; a toolchain installed without them gets them.
fn ensure_components() -> Result<()> {
    let present = |tool: &str| {
        Command::new("cargo")
            .args([tool, "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if present("fmt") && present("clippy") {
        return Ok(());
    }
    println!("installing rustfmt and clippy: rustup component add rustfmt clippy");
    let status = Command::new("rustup")
        .args(["component", "add", "rustfmt", "clippy"])
        .status()
        .context("could not run rustup to install rustfmt and clippy")?;
    if !status.success() {
        bail!("`rustup component add rustfmt clippy` failed ({status}); run it by hand");
    }
    Ok(())
}
