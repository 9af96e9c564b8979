//! The kernel's memory: the frame allocator and the kernel page tables, behind one lock.
//!
//! Lock order: `KMEM` comes before the console lock; no other lock is taken while it is held.
//! It is taken inside the core's locks (through `Platform::alloc_frame`) and inside `ROOTS`
//! (`system/derived_tables.rs`), never the other way round.
//!
//! One lock for all CPUs, not one per CPU (issue 8 asks for per-CPU where it is on a hot path):
//! no common path takes it. A page fault whose derived table exists takes none; it is taken
//! when a frame is allocated or freed for good (an object created, a derived table or a
//! space's upper level made for the first time, a kernel stack mapped) and at boot, a few
//! hundred instructions each time against the thousands of the path around it. A per-CPU stash
//! of frames would hide frames from `free_frames`, which the leak tests compare, so it waits
//! for a measurement that shows contention here.
//! Invariant: until `enter_physmap` the kernel runs on the boot page tables, where the first
//! GiB is identity-mapped, so page-table frames are reached at their physical address; after
//! it, through the direct map at `PHYS_MAP_BASE`.

use crate::boot::start_info::BootInfo;
use crate::mem::frame_alloc::FrameAllocator;
use crate::mem::layout::{phys_to_virt, KERNEL_VMA, PAGE_SIZE};
use crate::mem::page_table::{MapError, PageTableFlags, PageTables, PhysPages};
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;

/// RAM above this is not used (the frame bitmap lives in .bss): 16 GiB.
pub const MAX_PHYS: u64 = 16 << 30;
static mut FRAME_BITMAP: [u64; (MAX_PHYS / PAGE_SIZE / 64) as usize] =
    [0; (MAX_PHYS / PAGE_SIZE / 64) as usize];
static PHYSMAP_LIVE: AtomicBool = AtomicBool::new(false);

pub struct KernelMemory {
    pub frames: FrameAllocator<'static>,
    pub tables: PageTables,
}

/// Protects the frame allocator and the kernel page tables. See the lock order above.
pub static KMEM: Mutex<Option<KernelMemory>> = Mutex::new(None);

/// The frame allocator as the page-table builder needs it.
pub struct Frames<'a>(pub &'a mut FrameAllocator<'static>);

impl PhysPages for Frames<'_> {
    fn alloc_zeroed(&mut self) -> Option<u64> {
        let pa = self.0.alloc()?;
        frame_slice(pa).fill(0);
        Some(pa)
    }
    fn table(&mut self, pa: u64) -> &mut [u64; 512] {
        // SAFETY: `pa` is a page-table frame this allocator handed out; it is mapped (identity
        // or direct map, see the module invariant), aligned, and only reached under KMEM.
        unsafe { &mut *(frame_ptr(pa) as *mut [u64; 512]) }
    }
}

fn frame_ptr(pa: u64) -> *mut u8 {
    if PHYSMAP_LIVE.load(Ordering::Relaxed) {
        phys_to_virt(pa) as *mut u8
    } else {
        pa as *mut u8
    }
}

fn frame_slice(pa: u64) -> &'static mut [u8] {
    // SAFETY: a whole frame owned by the caller, mapped as the module invariant says.
    unsafe { core::slice::from_raw_parts_mut(frame_ptr(pa), PAGE_SIZE as usize) }
}

extern "C" {
    static __kernel_end: u8;
}

/// Builds the frame allocator from the boot memory map, keeping out the first MiB (BIOS and
/// the AP trampoline), the kernel image and the boot modules.
pub fn init_frames(info: &BootInfo) -> FrameAllocator<'static> {
    // SAFETY: only the linker-provided address of the symbol is taken.
    let kernel_end = unsafe { &__kernel_end as *const u8 as u64 } - KERNEL_VMA;
    let mut reserved = [
        (0u64, 0x10_0000u64),
        (0x10_0000, kernel_end),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
    ];
    for (slot, m) in reserved[2..].iter_mut().zip(info.modules()) {
        *slot = (m.start, m.start + m.len);
    }
    let top = info.top_of_ram().min(MAX_PHYS);
    // SAFETY: called once, on the boot CPU, before any other reference to the bitmap exists.
    let bitmap = unsafe { &mut *core::ptr::addr_of_mut!(FRAME_BITMAP) };
    let words = FrameAllocator::bitmap_words(top);
    FrameAllocator::new(&mut bitmap[..words], info.memory(), &reserved)
}

/// From here on page-table frames are reached through the direct map.
pub fn enter_physmap() {
    PHYSMAP_LIVE.store(true, Ordering::Relaxed);
}

/// Maps fresh frames at `[va, va + pages * 4 KiB)` in the kernel page tables. Their contents
/// are whatever the frames held: for kernel stacks and the heap, which never expose it.
pub fn map_fresh(va: u64, pages: u64, flags: PageTableFlags) -> Result<(), MapError> {
    let mut guard = KMEM.lock();
    let km = guard
        .as_mut()
        .expect("kernel memory is set up before anything maps pages");
    for i in 0..pages {
        let pa = km.frames.alloc().ok_or(MapError::OutOfMemory)?;
        let mut f = Frames(&mut km.frames);
        km.tables.map_4k(&mut f, va + i * PAGE_SIZE, pa, flags)?;
    }
    Ok(())
}

/// Maps a device's registers (uncached) in the direct map, once.
pub fn map_mmio(pa: u64) -> u64 {
    let mut guard = KMEM.lock();
    let km = guard
        .as_mut()
        .expect("kernel memory is set up before devices");
    let va = phys_to_virt(pa & !(PAGE_SIZE - 1));
    let mut f = Frames(&mut km.frames);
    if km.tables.translate(&mut f, va).is_none() {
        let flags = PageTableFlags::WRITABLE
            | PageTableFlags::NO_EXECUTE
            | PageTableFlags::NO_CACHE
            | PageTableFlags::WRITE_THROUGH
            | PageTableFlags::GLOBAL;
        km.tables
            .map_4k(&mut f, va, pa & !(PAGE_SIZE - 1), flags)
            .expect("MMIO page maps in the direct map");
        x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(va));
    }
    phys_to_virt(pa)
}

/// Looks up `va` in the kernel page tables (for tests and fault reports).
pub fn translate(va: u64) -> Option<(u64, PageTableFlags)> {
    let mut guard = KMEM.lock();
    let km = guard.as_mut()?;
    km.tables.translate(&mut Frames(&mut km.frames), va)
}
