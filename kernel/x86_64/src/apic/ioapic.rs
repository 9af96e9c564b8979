//! The IOAPIC: routes device interrupt lines (GSIs) to vectors on a chosen CPU.
//!
//! Lock order: `IOAPIC` is a leaf. It is also taken by the device interrupt handler (to mask
//! the line until its driver has seen it), which is safe because interrupts arrive only in
//! the idle loop, where this CPU holds no lock.

use crate::trap::vectors::{IRQ_BASE, IRQ_LINES};
use spin::Mutex;

struct IoApic {
    base: u64,
    lines: u8,
}

/// Protects the select/window register pair.
static IOAPIC: Mutex<Option<IoApic>> = Mutex::new(None);

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
        self.write(0x10 + 2 * gsi as u32, if masked { low | 1 << 16 } else { low & !(1 << 16) });
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
    let Some(io) = guard.as_ref().filter(|io| gsi < io.lines) else { return false };
    let low = (IRQ_BASE + gsi) as u32 | (active_low as u32) << 13 | (level as u32) << 15 | 1 << 16;
    io.write(0x11 + 2 * gsi as u32, apic_id << 24);
    io.write(0x10 + 2 * gsi as u32, low);
    true
}

pub fn unmask(gsi: u8) {
    if let Some(io) = IOAPIC.lock().as_ref().filter(|io| gsi < io.lines) {
        io.set_mask(gsi, false);
    }
}

/// Masks the line behind `vector` (the handler's acknowledge; the deferred work unmasks).
pub fn mask_vector(vector: u8) {
    let gsi = vector.wrapping_sub(IRQ_BASE);
    if let Some(io) = IOAPIC.lock().as_ref().filter(|io| gsi < io.lines) {
        io.set_mask(gsi, true);
    }
}
