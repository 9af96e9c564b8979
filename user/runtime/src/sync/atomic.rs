//! The atomics every lock, cell and channel of the runtime uses, chosen at build time: loom's
//! model-checked atomics under `cfg(loom)`, `core::sync::atomic` otherwise.
//!
//! Guarantees: one source of each primitive is what runs on a VP and what loom explores.
//! Assumes: under `cfg(loom)` these atomics are only touched inside `loom::model`.

#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub use core::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// One iteration of a spin-wait: a pause hint on hardware, a yield under loom (loom must see
/// the spinning thread give way or it reports a livelock).
#[inline]
pub fn spin_loop() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
