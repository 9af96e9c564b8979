//! The deferred half of interrupt handling (seed 001, section 2.3): run at kernel exit and in
//! the idle loop, never inside a handler. It drains this CPU's `pending_irqs` and turns each
//! into work. Once processes exist, a tick goes to the core's quantum accounting and a device
//! line to the core, which POSTs it to the endpoint bound to the line; before that, serial
//! input feeds the kernel monitor.

use crate::cpu::percpu::PerCpu;
use crate::trap::vectors::{IPI_RESCHEDULE, IRQ_BASE, IRQ_LINES, TIMER};
use core::sync::atomic::{AtomicU64, Ordering};

/// Serial interrupts the deferred work has handled (tests read it).
pub static SERIAL_IRQS: AtomicU64 = AtomicU64::new(0);

pub fn run(cpu: &PerCpu) {
    let pending = cpu.take_pending_irqs();
    for (word, bits) in pending.iter().enumerate() {
        let mut bits = *bits;
        while bits != 0 {
            let vector = (word * 64) as u8 + bits.trailing_zeros() as u8;
            bits &= bits - 1;
            handle(cpu, vector);
        }
    }
    cpu.need_resched.store(false, Ordering::Release);
}

fn handle(cpu: &PerCpu, vector: u8) {
    match vector {
        TIMER => {
            cpu.ticks.fetch_add(1, Ordering::Relaxed);
            if crate::system::running() {
                crate::system::kernel().timer_tick(crate::system::cpu_id(cpu.id));
            }
        }
        IPI_RESCHEDULE => {}
        v if (IRQ_BASE..IRQ_BASE + IRQ_LINES).contains(&v) && crate::system::running() => {
            crate::system::kernel().note_irq(crate::system::cpu_id(cpu.id), (v - IRQ_BASE) as u32);
            crate::apic::ioapic::unmask(v - IRQ_BASE);
        }
        v if v == IRQ_BASE + crate::platform::serial_gsi() => {
            SERIAL_IRQS.fetch_add(1, Ordering::Relaxed);
            while let Some(b) = crate::console::read_byte() {
                crate::console_input::byte(b);
            }
            crate::apic::ioapic::unmask(v - IRQ_BASE);
        }
        v => log::debug!("CPU {}: vector {v:#x} pending with no handler", cpu.id),
    }
}
