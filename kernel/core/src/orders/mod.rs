//! The order handlers of the kernel objects, one file per object kind.

mod bank;
mod irq;
mod lifecycle;
mod memory;
mod process;
