//! The GDT and TSS of one CPU.
//!
//! Selector layout is fixed by `syscall`/`sysret` (STAR): kernel code 0x08, kernel data 0x10,
//! user data 0x18, user code 0x20 (sysret loads SS = base + 8 and CS = base + 16 from 0x10),
//! then the 16-byte TSS at 0x28.

use crate::cpu::percpu::CpuBlock;
use alloc::boxed::Box;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::PrivilegeLevel;

pub const KERNEL_CODE: u16 = 0x08;
pub const KERNEL_DATA: u16 = 0x10;
pub const USER_DATA: u16 = 0x18 | 3;
pub const USER_CODE: u16 = 0x20 | 3;

pub fn load(cpu: &'static CpuBlock) {
    let gdt = Box::leak(Box::new(GlobalDescriptorTable::new()));
    let kcode = gdt.append(Descriptor::kernel_code_segment());
    let kdata = gdt.append(Descriptor::kernel_data_segment());
    let udata = gdt.append(Descriptor::user_data_segment());
    let ucode = gdt.append(Descriptor::user_code_segment());
    // SAFETY: the TSS lives in the leaked CpuBlock block, so the 'static borrow is sound; later
    // writes (IST1, the bitmap) go through the cell's raw pointer, never through this reference.
    let t = unsafe { &*cpu.tss.get() };
    let tss = gdt.append(
        Descriptor::tss_segment_with_iomap(&t.tss, &t.iomap).expect("the bitmap follows the TSS"),
    );
    assert_eq!(
        (kcode.0, kdata.0, udata.0, ucode.0, tss.0),
        (KERNEL_CODE, KERNEL_DATA, USER_DATA, USER_CODE, 0x28)
    );
    gdt.load();
    // SAFETY: the selectors index the GDT just loaded, with the privilege levels they name.
    unsafe {
        CS::set_reg(kcode);
        SS::set_reg(kdata);
        DS::set_reg(SegmentSelector::new(0, PrivilegeLevel::Ring0));
        ES::set_reg(SegmentSelector::new(0, PrivilegeLevel::Ring0));
        load_tss(tss);
    }
}
