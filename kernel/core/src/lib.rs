//! The portable Tessera kernel core. No architecture code: hardware is reached only through
//! the `platform::Platform` trait, implemented by the x86_64 kernel and by the simulator.
//!
//! Start at `kernel.rs` (the `Kernel` the arch instantiates), `kernel_entry.rs` (the entry and exit
//! points the arch calls), `scheduler.rs` (the scheduling policy) and `invoke/` (the invocation
//! paths).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

#[macro_use]
pub mod trace;

pub mod alarm_queue;
mod alarms;
pub mod cap;
mod check;
pub mod cleaner;
pub mod cpu;
pub mod derived_tables;
pub mod fault;
mod framed;
mod invoke;
pub mod keeper;
pub mod kernel;
pub mod kernel_entry;
pub mod lock_key;
pub mod mmu_model;
pub mod model_regs;
mod notify;
pub mod object;
mod orders;
mod outcome;
mod pending_irqs;
#[cfg(feature = "planted-bugs")]
pub mod planted;
pub mod platform;
pub mod post;
mod post_run;
pub mod ready;
pub mod run_queue;
pub mod save_areas;
pub mod scheduler;
pub mod stall_queue;
pub mod sync;
pub mod table;
mod wake;

pub use cap::{Cap, ObjId};
pub use cpu::Cpu;
pub use kernel::{Config, Kernel};
pub use platform::{Frame, Platform, SaveArea};
pub use scheduler::Exit;
