//! The Tessera kernel for x86_64: glue between the portable core and the machine. It builds
//! only for the kernel (`[lib] test = false`); its pure parts (boot information, frame
//! allocator, page tables) are the host-tested `tessera-x86_64-mem` crate.
#![no_std]

extern crate alloc;
extern crate tessera_freestanding;

pub mod boot;
pub mod mem;

#[macro_use]
pub mod console;
pub mod apic;
pub mod backtrace;
pub mod cmdline;
pub mod console_input;
pub mod cpu;
pub mod hardware;
pub mod idle;
mod kmain;
pub mod ktest;
mod panic;
pub mod qemu_exit;
pub mod smp;
pub mod system;
pub mod trace;
pub mod trap;
pub mod user;

/// The time-stamp counter; under `-icount shift=0` it counts guest instructions exactly.
pub fn tsc() -> u64 {
    // SAFETY: rdtsc only reads the counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}
