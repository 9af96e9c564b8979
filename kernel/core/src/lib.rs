//! The portable Tessera kernel core. No architecture code: hardware is reached only through
//! the `platform::Platform` trait, implemented by the x86_64 kernel and by the simulator.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod cleaner;
pub mod sched;
pub mod stall_queue;
pub mod sync;
