//! The kernel objects. Each lives in a `Table` and is reached through capabilities.

pub mod alarm;
pub mod bank;
pub mod memory;
pub mod process;
