//! The IOAPIC: routes device interrupt lines (GSIs) to vectors on a chosen CPU, and masks
//! them when the core says (`Platform::set_irq_masked`: a bound level-triggered line from its
//! interrupt until its driver ACKs, an unbound line).
//!
//! Lock order: `IOAPIC` is a leaf. It is also taken in interrupt context, when the core masks
//! a level-triggered line that fired, which is safe because interrupts arrive only in user
//! mode and the idle loop, where this CPU holds no lock.

use crate::trap::vectors::{IRQ_BASE, IRQ_LINES};
use core::sync::atomic::{AtomicU32, Ordering};
use spin::Mutex;

struct IoApic {
    base: u64,
    lines: u8,
}

/// Protects the select/window register pair.
static IOAPIC: Mutex<Option<IoApic>> = Mutex::new(None);

/// One bit per routed level-triggered line; read without the lock in interrupt context.
static LEVEL: AtomicU32 = AtomicU32::new(0);

impl IoApic {
    fn read(&self, reg: u32) -> u32 {
        // SAFETY: `base` maps the IOAPIC's two registers, uncached; the lock serialises the pair.
        unsafe {
            (self.base as *mut u32).write_volatile(reg);
            ((self.base + 0x10) as *mut u32).read_volatile()
        }
    }
    fn write(&self, reg: u32, v: u32) {
        // SAFETY: as in `read`.
        unsafe {
            (self.base as *mut u32).write_volatile(reg);
            ((self.base + 0x10) as *mut u32).write_volatile(v);
        }
    }
    fn set_mask(&self, gsi: u8, masked: bool) {
        let low = self.read(0x10 + 2 * gsi as u32);
        self.write(
            0x10 + 2 * gsi as u32,
            if masked {
                low | 1 << 16
            } else {
                low & !(1 << 16)
            },
        );
    }
}

/// Maps the IOAPIC and masks every line.
pub fn init(pa: u64) {
    let base = crate::mem::kmem::map_mmio(pa);
    let mut io = IoApic { base, lines: 0 };
    io.lines = (((io.read(1) >> 16) & 0xff) as u8 + 1).min(IRQ_LINES);
    for gsi in 0..io.lines {
        io.write(0x10 + 2 * gsi as u32, 1 << 16);
    }
    *IOAPIC.lock() = Some(io);
}

/// Routes `gsi` to vector `IRQ_BASE + gsi` on the CPU with `apic_id`, masked until `unmask`.
pub fn route(gsi: u8, apic_id: u32, active_low: bool, level: bool) -> bool {
    let guard = IOAPIC.lock();
    let Some(io) = guard.as_ref().filter(|io| gsi < io.lines) else {
        return false;
    };
    let low = (IRQ_BASE + gsi) as u32 | (active_low as u32) << 13 | (level as u32) << 15 | 1 << 16;
    io.write(0x11 + 2 * gsi as u32, apic_id << 24);
    io.write(0x10 + 2 * gsi as u32, low);
    if level {
        LEVEL.fetch_or(1 << gsi, Ordering::Release);
    } else {
        LEVEL.fetch_and(!(1 << gsi), Ordering::Release);
    }
    true
}

/// Masks or unmasks line `gsi`; a line the IOAPIC does not have is ignored.
pub fn set_masked(gsi: u8, masked: bool) {
    if let Some(io) = IOAPIC.lock().as_ref().filter(|io| gsi < io.lines) {
        io.set_mask(gsi, masked);
    }
}

/// Whether line `gsi` was routed level-triggered.
pub fn level_triggered(gsi: u8) -> bool {
    LEVEL
        .load(Ordering::Acquire)
        .checked_shr(u32::from(gsi))
        .is_some_and(|b| b & 1 != 0)
}
