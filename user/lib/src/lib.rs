//! The Tessera user library. A program is `#![no_std] #![no_main]`, calls `entry!(main)`,
//! and links with `tessera-user-link` from its build script.
//!
//! Guarantees: every program gets the same slot conventions ([`slots`]), a heap ([`heap`]),
//! console printing ([`print!`], [`println!`]) and a panic handler that reports and exits.
#![no_std]

extern crate tessera_freestanding;

pub mod caps;
pub mod clock;
pub mod console;
pub mod echo;
mod heap;
pub mod invoke;
pub mod logger;
pub mod nonblocking;
mod start;
pub mod timer;
pub mod trace;
pub mod tsc;
mod unwind;

pub use start::{exit, ENTRY};
pub use tessera_abi as abi;
pub use tessera_system as system;
pub use tessera_system::slots;

/// The bytes a program's own assembly placed between labels `$start` and `$end` (code that
/// helpers or victims run, copied into pages of their own). The labels must bound one run of
/// bytes in a read-only section, `$end` after `$start`.
#[macro_export]
macro_rules! assembled_bytes {
    ($start:ident, $end:ident) => {{
        // SAFETY: the labels bound the bytes in a section mapped readable and never written,
        // end after start (the macro's contract).
        unsafe {
            let start = core::ptr::addr_of!($start);
            let len = core::ptr::addr_of!($end).offset_from(start) as usize;
            core::slice::from_raw_parts(start, len)
        }
    }};
}

/// Names the program's `fn main(arg: u64)`, called by `_start` with the argument word.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        extern "C" fn tessera_main(arg: u64) {
            let main: fn(u64) = $main;
            main(arg)
        }
    };
}
