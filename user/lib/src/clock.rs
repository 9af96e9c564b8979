//! The kernel's monotonic clock, read without a system call: the TSC scaled by its frequency,
//! exactly as the kernel scales it (`abi::clock`), so a deadline computed here is the one the
//! kernel's alarms compare against. The frequency arrives in the program's argument word
//! (`abi::boot::InitArg::tsc_hz`); [`set_tsc_hz`] records it once at start.

use core::sync::atomic::{AtomicU64, Ordering};
use tessera_abi::clock::tsc_to_ns;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// Records the TSC frequency the program was given (before the first [`now_ns`]).
pub fn set_tsc_hz(hz: u64) {
    TSC_HZ.store(hz, Ordering::Relaxed);
}

/// The recorded TSC frequency (0 if unknown).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Nanoseconds since boot (0 while the frequency is unknown).
pub fn now_ns() -> u64 {
    tsc_to_ns(crate::tsc::now(), tsc_hz())
}
