//! The idle loop: the only place the kernel enables interrupts, and where it halts.
//!
//! `sti` takes effect after the next instruction, so `sti; hlt` cannot lose a wake-up: an
//! interrupt that is already pending is taken at the `hlt`, not before it.

/// Waits for one interrupt; before the system runs, feeds the kernel monitor what it brought.
pub fn idle_once() {
    // SAFETY: the handlers that may run here save and restore all state and touch only this
    // CPU's notes in the core (or the monitor's input flag); the kernel holds no lock here.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
    crate::console_input::poll();
}

pub fn idle() -> ! {
    loop {
        idle_once();
    }
}
