//! The Tessera kernel for x86_64. The modules that touch hardware build only for the kernel;
//! the pure ones (boot information, frame allocator, page tables) also build on the host, where
//! `cargo test` runs their tests.
#![cfg_attr(not(test), no_std)]

#[cfg(not(test))]
extern crate alloc;
#[cfg(not(test))]
extern crate tessera_freestanding;

pub mod boot;
pub mod mem;

#[cfg(not(test))]
#[macro_use]
pub mod console;
#[cfg(not(test))]
pub mod apic;
#[cfg(not(test))]
pub mod backtrace;
#[cfg(not(test))]
pub mod cmdline;
#[cfg(not(test))]
pub mod console_input;
#[cfg(not(test))]
pub mod cpu;
#[cfg(not(test))]
#[cfg(not(test))]
pub mod idle;
#[cfg(not(test))]
mod kmain;
#[cfg(not(test))]
pub mod ktest;
#[cfg(not(test))]
mod panic;
#[cfg(not(test))]
pub mod platform;
#[cfg(not(test))]
pub mod qemu_exit;
#[cfg(not(test))]
pub mod smp;
#[cfg(not(test))]
pub mod system;
#[cfg(not(test))]
pub mod trace;
#[cfg(not(test))]
pub mod trap;
#[cfg(not(test))]
pub mod user;

/// The time-stamp counter; under `-icount shift=0` it counts guest instructions exactly.
#[cfg(not(test))]
pub fn tsc() -> u64 {
    // SAFETY: rdtsc only reads the counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}
