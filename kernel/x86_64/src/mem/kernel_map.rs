//! The kernel's own address space, built by the kernel: W^X for the image, the direct map of
//! RAM, and nothing else (the boot stub's identity map is gone once it is loaded).
//!
//! Invariants: text is RX, rodata R+NX, data and bss RW+NX; every kernel mapping is global;
//! no kernel mapping is user-accessible; the direct map is RW+NX. Every upper-half PML4 slot
//! has its PDPT from the start, so user address spaces copy the 256 upper entries once and
//! see every later kernel mapping.

use crate::boot::start_info::BootInfo;
use crate::mem::kmem::{self, Frames, KernelMemory, KMEM};
use crate::mem::layout::{align_up, phys_to_virt, KERNEL_VMA, PAGE_SIZE};
use crate::mem::page_table::{PageTableFlags, PageTables, PhysPages, SIZE_2M};

extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
}

fn addr(s: &u8) -> u64 {
    s as *const u8 as u64
}

/// Builds the kernel page tables, switches to them and makes the allocator global.
pub fn init(info: &BootInfo) {
    let mut frames = kmem::init_frames(info);
    let mut f = Frames(&mut frames);
    let tables = PageTables::new(&mut f).expect("a frame for the kernel PML4");
    // SAFETY: linker-provided section bounds; only their addresses are taken.
    let sections = unsafe {
        [
            (
                addr(&__text_start),
                addr(&__text_end),
                PageTableFlags::GLOBAL,
            ),
            (
                addr(&__rodata_start),
                addr(&__rodata_end),
                PageTableFlags::GLOBAL | PageTableFlags::NO_EXECUTE,
            ),
            (
                addr(&__data_start),
                addr(&__data_end),
                PageTableFlags::GLOBAL | PageTableFlags::NO_EXECUTE | PageTableFlags::WRITABLE,
            ),
        ]
    };
    for (start, end, flags) in sections {
        for va in (start..end).step_by(PAGE_SIZE as usize) {
            tables
                .map_4k(&mut f, va, va - KERNEL_VMA, flags)
                .expect("kernel image maps");
        }
    }
    let top = align_up(info.top_of_ram().min(kmem::MAX_PHYS), SIZE_2M);
    let direct = PageTableFlags::GLOBAL | PageTableFlags::NO_EXECUTE | PageTableFlags::WRITABLE;
    for pa in (0..top).step_by(SIZE_2M as usize) {
        tables
            .map_2m(&mut f, phys_to_virt(pa), pa, direct)
            .expect("direct map");
    }
    for slot in 256..512 {
        if f.table(tables.root)[slot] == 0 {
            let pdpt = f.alloc_zeroed().expect("a frame for a kernel PDPT");
            f.table(tables.root)[slot] =
                pdpt | (PageTableFlags::PRESENT | PageTableFlags::WRITABLE).bits();
        }
    }
    // SAFETY: the new tables map the running code, stack and data exactly where they are now
    // (the image at its link address, .bss stack included), so execution continues unchanged.
    unsafe {
        x86_64::registers::control::Cr3::write(
            x86_64::structures::paging::PhysFrame::containing_address(x86_64::PhysAddr::new(
                tables.root,
            )),
            x86_64::registers::control::Cr3Flags::empty(),
        );
    }
    kmem::enter_physmap();
    *KMEM.lock() = Some(KernelMemory { frames, tables });
}
