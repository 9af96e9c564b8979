//! Ring 3: save areas, entry and exit, and the per-CPU `syscall` set-up.
pub mod address_space;
pub mod context;
pub mod entry;
mod tests;
pub mod trap;

use crate::cpu::gdt::{KERNEL_CODE, KERNEL_DATA};
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask};
use x86_64::registers::rflags::RFlags;
use x86_64::VirtAddr;

/// Turns on `syscall` for this CPU: entry at `syscall_entry` with interrupts, direction,
/// trap and alignment-check flags cleared, selectors as `gdt.rs` lays them out.
pub fn init_cpu() {
    // SAFETY: the selectors and the entry point are the kernel's own; SCE only enables the
    // instruction.
    unsafe {
        Efer::update(|f| *f |= EferFlags::SYSTEM_CALL_EXTENSIONS);
        x86_64::registers::model_specific::Msr::new(0xc000_0081)
            .write(((KERNEL_DATA as u64) << 48) | ((KERNEL_CODE as u64) << 32));
    }
    LStar::write(VirtAddr::new(entry::syscall_entry as *const () as u64));
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK,
    );
}
