//! The three lock classes of seed 000 section 6.1, one type per class.

mod cell;
mod spin;
mod suspending;

pub use spin::{SpinGuard, SpinLock};
pub use suspending::{
    ExplicitSuspendGuard, ExplicitSuspendLock, SpinSuspendGuard, SpinSuspendLock, SPIN_RETRY_LIMIT,
};
