//! Interrupt handlers (seed 001, section 2): acknowledge, note, return. Once the system runs,
//! a device line and a timer tick are noted in the core's per-CPU state through its entry
//! (`Kernel::note_irq`, `Kernel::timer_tick`), which touch only this CPU's pendingIRQs,
//! needResched and quantum and mask a level-triggered line until its driver ACKs; the work
//! happens at kernel exit, with no interrupt-handler state to race against. A reschedule IPI
//! needs no note: its sender set this CPU's needResched before sending it. Before the system
//! runs, COM1's interrupt only tells the kernel monitor that input arrived.

use crate::apic::lapic;
use crate::cpu::percpu::{percpu, CpuBlock};
use crate::trap::frame::TrapFrame;
use crate::trap::vectors::IRQ_BASE;
use core::sync::atomic::Ordering;
#[cfg(feature = "trace")]
use tessera_abi::trace::{Kind, NO_PROCESS};

fn counted(frame: &TrapFrame) -> &'static CpuBlock {
    let cpu = percpu();
    cpu.irqs_taken.fetch_add(1, Ordering::Relaxed);
    #[cfg(feature = "trace")]
    crate::trace::event(cpu.id, Kind::IrqNoted, NO_PROCESS, frame.vector, 0);
    #[cfg(not(feature = "trace"))]
    let _ = frame;
    cpu
}

pub fn device(frame: &mut TrapFrame) {
    let cpu = counted(frame);
    let line = (frame.vector as u8).wrapping_sub(IRQ_BASE);
    // Noted (and a level-triggered line masked) before the EOI, so the line cannot interrupt
    // again before the core knows.
    if crate::system::running() {
        crate::system::kernel().note_irq(crate::system::cpu_id(cpu.id), u32::from(line));
    } else if line == crate::hardware::serial_gsi() {
        crate::console_input::input_arrived();
    }
    lapic::eoi();
}

pub fn timer(frame: &mut TrapFrame) {
    let cpu = counted(frame);
    cpu.ticks.fetch_add(1, Ordering::Relaxed);
    if crate::system::running() {
        crate::system::kernel().timer_tick(crate::system::cpu_id(cpu.id));
    }
    lapic::eoi();
}

pub fn reschedule_ipi(frame: &mut TrapFrame) {
    counted(frame);
    lapic::eoi();
}

/// The APIC's spurious vector needs no EOI.
pub fn spurious(_frame: &mut TrapFrame) {}

/// The masked 8259s can still raise IRQ 7/15 spuriously; there is nothing to acknowledge.
pub fn pic_spurious(_frame: &mut TrapFrame) {}

pub fn unexpected(frame: &mut TrapFrame) {
    log::warn!(
        "unexpected interrupt vector {:#x} at RIP {:#x}",
        frame.vector,
        frame.rip
    );
    lapic::eoi();
}
