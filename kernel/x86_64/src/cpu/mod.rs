//! The processor: per-CPU state, descriptor tables, control-register set-up.
pub mod gdt;
pub mod percpu;
pub mod setup;

pub use percpu::{current_id_or_boot, percpu};

/// Stops this CPU for good: interrupts off, halt, forever.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
