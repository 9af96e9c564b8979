//! The order handlers of the kernel objects, one file per object kind.

mod alarm;
mod bank;
mod io_ports;
mod irq_line;
mod keeper;
mod lifecycle;
pub(crate) mod memory;
pub(crate) mod process;
mod trace;
