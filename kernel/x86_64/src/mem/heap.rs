//! The kernel heap: `talc` over a fixed region of fresh frames (`HEAP_BASE`).
//!
//! Lock order: the heap's spin lock is taken inside allocation calls only; `KMEM` is never
//! taken while it is held (the region is mapped once, at boot, before the first allocation).

use crate::mem::kmem;
use crate::mem::layout::PAGE_SIZE;
use crate::mem::page_table::PageTableFlags;
use talc::{ErrOnOom, Span, Talc, Talck};

const HEAP_BASE: u64 = 0xffff_fd00_0000_0000;
/// The object tables take about 8 MiB of it (64 Ki page slots, 2,048 capability pages); the
/// rest holds what grows with use, mapping records and reverse maps above all (a task of
/// 100,000 chores maps 37,500 pages: about 5 MiB). An allocation that finds it full fails
/// with an error to the caller (MAP answers `OutOfQuota`), never a panic.
pub const HEAP_SIZE: u64 = 48 << 20;

#[global_allocator]
static ALLOCATOR: Talck<spin::Mutex<()>, ErrOnOom> = Talc::new(ErrOnOom).lock();

pub fn init() {
    kmem::map_fresh(
        HEAP_BASE,
        HEAP_SIZE / PAGE_SIZE,
        PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE | PageTableFlags::GLOBAL,
    )
    .expect("memory for the kernel heap");
    let span = Span::from_base_size(HEAP_BASE as *mut u8, HEAP_SIZE as usize);
    // SAFETY: the span was just mapped, belongs to nothing else, and is claimed once.
    unsafe {
        ALLOCATOR
            .lock()
            .claim(span)
            .expect("talc claims the heap region")
    };
}
