//! Traps: the primary handler in assembly, the vector table, exception and interrupt handlers.
pub mod exception;
pub mod frame;
pub mod idt;
pub mod interrupt;
pub mod primary;
pub mod vector_table;
pub mod vectors;
