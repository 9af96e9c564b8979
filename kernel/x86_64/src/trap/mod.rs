//! Traps: the primary handler in assembly, the dispatch table, exception and interrupt handlers.
pub mod dispatch;
pub mod entry;
pub mod exception;
pub mod frame;
pub mod idt;
pub mod irq;
pub mod vectors;
