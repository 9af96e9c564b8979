//! What was discovered about the machine at boot, kept for the rest of the kernel.

use crate::apic::acpi_tables::Hardware;
use spin::Once;

static HARDWARE: Once<Hardware> = Once::new();

const COM1_ISA_IRQ: usize = 4;

pub fn set(p: Hardware) -> &'static Hardware {
    HARDWARE.call_once(|| p)
}

pub fn get() -> &'static Hardware {
    HARDWARE.get().expect("the hardware is discovered at boot")
}

/// The IOAPIC input COM1 is wired to.
pub fn serial_gsi() -> u8 {
    HARDWARE.get().map_or(COM1_ISA_IRQ as u8, |p| {
        p.isa_overrides[COM1_ISA_IRQ].0 as u8
    })
}

pub fn serial_line() -> (u8, bool, bool) {
    let (gsi, low, level) = get().isa_overrides[COM1_ISA_IRQ];
    (gsi as u8, low, level)
}
