//! The idle loop: the only place the kernel enables interrupts, and where it halts.
//!
//! `sti` takes effect after the next instruction, so `sti; hlt` cannot lose a wake-up: an
//! interrupt that is already pending is taken at the `hlt`, not before it.

use crate::cpu::percpu::percpu;

/// Waits for one interrupt, then runs the deferred work it left.
pub fn idle_once() {
    // SAFETY: the handlers that may run here save and restore all state and touch only this
    // CPU's pending bits; the kernel holds no lock at this point.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
    crate::deferred::run(percpu());
}

pub fn idle() -> ! {
    loop {
        idle_once();
    }
}
