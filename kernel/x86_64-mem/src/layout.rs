//! The kernel's virtual address layout, in one place.
//!
//! | range | what |
//! |---|---|
//! | `0 .. 0x0000_8000_0000_0000` | user space (per process) |
//! | `PHYS_MAP_BASE ..` (PML4 slot 256) | all physical memory, RW + NX; MMIO there is uncached |
//! | `STACKS_BASE ..` (PML4 slot 508) | per-CPU kernel and trap stacks, each under an unmapped guard page |
//! | `KERNEL_VMA ..` (top 2 GiB) | the kernel image: text RX, rodata R, data/bss RW + NX |

pub const PAGE_SIZE: u64 = 4096;
pub const PHYS_MAP_BASE: u64 = 0xffff_8000_0000_0000;
pub const STACKS_BASE: u64 = 0xffff_fe00_0000_0000;
pub const KERNEL_VMA: u64 = 0xffff_ffff_8000_0000;
/// Everything at or above this address belongs to the kernel; user mappings stay below it.
pub const USER_END: u64 = 0x0000_8000_0000_0000;

/// The kernel virtual address at which physical address `pa` is mapped.
pub const fn phys_to_virt(pa: u64) -> u64 {
    PHYS_MAP_BASE + pa
}

pub const fn align_up(x: u64, align: u64) -> u64 {
    (x + align - 1) & !(align - 1)
}

pub const fn align_down(x: u64, align: u64) -> u64 {
    x & !(align - 1)
}
