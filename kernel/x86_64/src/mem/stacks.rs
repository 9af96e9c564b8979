//! Kernel stacks, each under an unmapped guard page, in their own region (`STACKS_BASE`).
//! An overflow runs into the guard page and faults (#PF, then #DF on its IST stack) instead
//! of corrupting whatever lies below.

use crate::mem::kmem;
use crate::mem::layout::{PAGE_SIZE, STACKS_BASE};
use crate::mem::page_table::PageTableFlags;
use core::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(STACKS_BASE);

/// A stack: `[top - size, top)` mapped RW+NX, the page below unmapped.
#[derive(Clone, Copy, Debug)]
pub struct Stack {
    pub top: u64,
    pub bottom: u64,
}

impl Stack {
    pub fn contains(&self, addr: u64) -> bool {
        (self.bottom..self.top).contains(&addr)
    }
}

pub fn alloc(pages: u64) -> Stack {
    let base = NEXT.fetch_add((pages + 1) * PAGE_SIZE, Ordering::Relaxed) + PAGE_SIZE;
    kmem::map_fresh(
        base,
        pages,
        PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE | PageTableFlags::GLOBAL,
    )
    .expect("memory for a kernel stack");
    Stack {
        top: base + pages * PAGE_SIZE,
        bottom: base,
    }
}

/// True if `addr` lies in the stack region (used to bound backtraces).
pub fn in_stack_region(addr: u64) -> bool {
    (STACKS_BASE..NEXT.load(Ordering::Relaxed)).contains(&addr)
}
