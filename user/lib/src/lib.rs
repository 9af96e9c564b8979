//! The Tessera user library. A program is `#![no_std] #![no_main]`, calls `entry!(main)`,
//! and links with `tessera-user-link` from its build script.
#![no_std]

extern crate tessera_freestanding;

pub mod invoke;
mod start;

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
