//! What the kernel needs from ACPI: the CPUs (local APIC ids), the IOAPIC and the ISA
//! interrupt overrides, read from the MADT with the `acpi` crate. Tables are reached through
//! the direct map, so mapping a region is address arithmetic.

use crate::mem::layout::phys_to_virt;
use acpi::madt::{Madt, MadtEntry};
use acpi::{AcpiHandler, AcpiTables, PhysicalMapping};
use core::ptr::NonNull;

pub const MAX_CPUS: usize = crate::cpu::percpu::MAX_CPUS;

#[derive(Clone, Copy)]
struct DirectMap;

impl AcpiHandler for DirectMap {
    unsafe fn map_physical_region<T>(&self, pa: usize, size: usize) -> PhysicalMapping<Self, T> {
        let va =
            NonNull::new(phys_to_virt(pa as u64) as *mut T).expect("the direct map is never at 0");
        // SAFETY: all of RAM, where firmware puts the ACPI tables, is in the direct map.
        unsafe { PhysicalMapping::new(pa, va, size, size, *self) }
    }
    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// What the MADT says about this machine: its CPUs, its IOAPIC and how ISA lines are wired.
#[derive(Clone, Debug)]
pub struct Hardware {
    pub apic_ids: [u8; MAX_CPUS],
    pub cpus: usize,
    pub ioapic_address: u64,
    /// ISA IRQ → (GSI, active low, level triggered).
    pub isa_overrides: [(u32, bool, bool); 16],
}

impl Hardware {
    fn defaults() -> Hardware {
        Hardware {
            apic_ids: [0; MAX_CPUS],
            cpus: 1,
            ioapic_address: 0xfec0_0000,
            isa_overrides: core::array::from_fn(|i| (i as u32, false, false)),
        }
    }
}

/// Reads the MADT; without ACPI the machine is taken to be a single-CPU PC.
pub fn discover(rsdp_paddr: u64) -> Hardware {
    let mut p = Hardware::defaults();
    // SAFETY: the RSDP address comes from the boot loader, or is searched for in the BIOS
    // area, both in RAM that is in the direct map.
    let tables = unsafe {
        if rsdp_paddr != 0 {
            AcpiTables::from_rsdp(DirectMap, rsdp_paddr as usize)
        } else {
            AcpiTables::search_for_rsdp_bios(DirectMap)
        }
    };
    let Ok(tables) = tables else {
        log::warn!(
            "no ACPI tables: assuming one CPU and the IOAPIC at {:#x}",
            p.ioapic_address
        );
        return p;
    };
    let Ok(madt) = tables.find_table::<Madt>() else {
        log::warn!("no MADT: assuming one CPU");
        return p;
    };
    p.cpus = 0;
    let mut offline = 0;
    for entry in madt.get().entries() {
        match entry {
            MadtEntry::LocalApic(e) if { e.flags } & 1 != 0 && p.cpus < MAX_CPUS => {
                p.apic_ids[p.cpus] = e.apic_id;
                p.cpus += 1;
            }
            MadtEntry::LocalApic(e) if { e.flags } & 1 != 0 => offline += 1,
            MadtEntry::IoApic(e) if { e.global_system_interrupt_base } == 0 => {
                p.ioapic_address = { e.io_apic_address } as u64
            }
            MadtEntry::InterruptSourceOverride(e) if e.bus == 0 && (e.irq as usize) < 16 => {
                let flags = { e.flags };
                p.isa_overrides[e.irq as usize] = (
                    { e.global_system_interrupt },
                    flags & 3 == 3,
                    (flags >> 2) & 3 == 3,
                );
            }
            _ => {}
        }
    }
    if offline > 0 {
        log::warn!("{offline} more CPUs than the kernel supports ({MAX_CPUS}): they stay offline");
    }
    p.cpus = p.cpus.max(1);
    p
}
