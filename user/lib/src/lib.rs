//! The Tessera user library. A program is `#![no_std] #![no_main]`, calls `entry!(main)`,
//! and links with `tessera-user-link` from its build script.
//!
//! Guarantees: every program gets the same slot conventions ([`slots`]), a heap ([`heap`]),
//! console printing ([`print!`], [`println!`]) and a panic handler that reports and exits.
#![no_std]

extern crate tessera_freestanding;

pub mod caps;
pub mod console;
pub mod echo;
mod heap;
pub mod invoke;
pub mod slots;
mod start;
pub mod tsc;
mod unwind;

pub use start::{exit, ENTRY};
pub use tessera_abi as abi;

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
