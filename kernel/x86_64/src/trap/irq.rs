//! Interrupt handlers. Per DESIGN.md they touch nothing but this CPU's `pending_irqs` and
//! `need_resched`: acknowledge, note, return. The work happens later, at kernel exit or in the
//! idle loop (`deferred.rs`), with no interrupt-handler state to race against.

use crate::apic::lapic;
use crate::cpu::percpu::percpu;
use crate::trap::frame::TrapFrame;
use core::sync::atomic::Ordering;
#[cfg(feature = "trace")]
use tessera_abi::trace::{Kind, NO_PROCESS};

fn note(frame: &TrapFrame) {
    let cpu = percpu();
    cpu.irqs_taken.fetch_add(1, Ordering::Relaxed);
    cpu.mark_irq_pending(frame.vector as u8);
    cpu.need_resched.store(true, Ordering::Release);
    #[cfg(feature = "trace")]
    crate::trace::event(cpu.id, Kind::IrqNoted, NO_PROCESS, frame.vector, 0);
}

pub fn device(frame: &mut TrapFrame) {
    crate::apic::ioapic::mask_vector(frame.vector as u8);
    lapic::eoi();
    note(frame);
}

pub fn timer(frame: &mut TrapFrame) {
    lapic::eoi();
    note(frame);
}

pub fn reschedule_ipi(frame: &mut TrapFrame) {
    lapic::eoi();
    note(frame);
}

/// The APIC's spurious vector needs no EOI.
pub fn spurious(_frame: &mut TrapFrame) {}

/// The masked 8259s can still raise IRQ 7/15 spuriously; there is nothing to acknowledge.
pub fn pic_spurious(_frame: &mut TrapFrame) {}

pub fn unexpected(frame: &mut TrapFrame) {
    log::warn!("unexpected interrupt vector {:#x} at RIP {:#x}", frame.vector, frame.rip);
    lapic::eoi();
}
