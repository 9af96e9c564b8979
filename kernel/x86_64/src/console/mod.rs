//! The kernel console: COM1, with log levels.
//!
//! Lock order: `SERIAL` is a leaf — nothing is taken while it is held. A panic on a CPU that
//! already holds it (a fault inside `write_fmt`) bypasses it with `emergency_write`, so the
//! report is never lost to a deadlock.

pub mod log;
mod serial;

pub use serial::{emergency_write, read_byte, write_fmt};

#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}
