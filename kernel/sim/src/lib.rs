//! Deterministic simulator for the kernel core (see the crate's README.md).
//!
//! `run_seed(seed, bug)` builds a system from the seed, runs it, and returns what it did or
//! the first broken invariant. The same seed gives the same run, step for step.
#![forbid(unsafe_code)]

mod client;
mod drain;
mod exceptions;
mod faults;
mod keeper;
pub mod ledger;
pub mod platform;
pub mod program;
pub mod rng;
mod server;
mod setup;
mod turns;
pub mod world;

pub use tessera_core::planted::PlantedBug;
pub use world::Stats;

/// Steps per run before the drain.
pub const STEPS: u64 = 300;

/// Runs the system of `seed` with `bug` planted (or none).
pub fn run_seed(seed: u64, bug: Option<PlantedBug>) -> Result<Stats, String> {
    world::Sim::new(seed, bug)?.run(STEPS)
}

/// Runs the system of `seed` (no bug planted but `bug`) with the kernel's fast paths on or off,
/// recording what its programs saw: the CPU count, the system calls the fast paths ran, and
/// the transcript (`tests/fastpath_equal.rs` compares the two).
pub fn transcript(
    seed: u64,
    bug: Option<PlantedBug>,
    fast_paths: bool,
) -> Result<(usize, u64, Vec<String>), String> {
    world::Sim::new(seed, bug)?.transcript(STEPS, fast_paths)
}
