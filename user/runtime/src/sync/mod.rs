//! The runtime's internal primitives: the atomics (loom-switchable) and the one raw spin lock
//! that guards every wait list. Nothing here suspends a chore.

pub mod atomic;
mod raw_spin;

pub use raw_spin::{RawSpin, RawSpinGuard};
