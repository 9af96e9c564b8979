//! The atomics every lock and counter in the core uses, chosen at build time: loom's
//! model-checked atomics under `cfg(loom)`, `core::sync::atomic` otherwise.
//!
//! Guarantees: the two sets have the same names and methods for everything the core uses, so
//! one source of each primitive is what runs in the kernel and what loom explores.
//! Assumes: under `cfg(loom)` these atomics are only touched inside `loom::model`.

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

#[cfg(not(loom))]
pub use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// One iteration of a spin-wait: a pause hint on hardware, a yield to the scheduler under loom
/// (loom must see the spinning thread give way or it reports a livelock).
#[inline]
pub fn spin_loop() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
