//! Guarded stack chunks in ring 3 (seed 000 section 4): a region of the task's address space
//! cut into slots, one per chunk. A slot is an unmapped reserve (the guard, which the keeper
//! may grow the stack into one chunk at a time) below the chunk's mapped pages. The home maps
//! a fixed number of chunks when the task starts; the VPs' pools take them from here.
//!
//! A task may instead ask for dense chunks (`TaskConfig::dense_bytes`): chunks smaller than
//! a page, packed side by side with no guard between them, for tasks of very many small
//! chores (5,000 chores of 1.5 KiB take 1,875 pages, where one guarded page each would take
//! 5,000, past what the kernel maps into one address space, and a slot record each on the
//! heap). A dense chunk cannot grow, and an overflow
//! runs into its neighbour (only the lowest chunk has an unmapped page below it).
//!
//! Guarantees: with guarded chunks, at least one unmapped page always stays below a slot's
//! mapped pages, so an overflow faults instead of running into the slot below. A chunk is
//! handed out once.

use core::sync::atomic::{AtomicUsize, Ordering};

use alloc::boxed::Box;
use tessera_runtime::{StackChunk, StackProvider};
use tessera_user::abi::Error;

use crate::memory::{Memory, PAGE};

/// Where the slots start: far from the program image, the heap and the boot stack.
pub const STACKS_VA: usize = 0x10_0000_0000;

#[derive(Debug)]
pub struct StackRegion {
    /// Bytes of a dense chunk; 0 for guarded chunks of `chunk_pages`.
    dense: usize,
    chunk_pages: usize,
    max_chunks: usize,
    slots: usize,
    /// How many slots the pools have taken.
    taken: AtomicUsize,
    /// Each slot's lowest mapped address.
    low: Box<[AtomicUsize]>,
}

impl StackRegion {
    pub fn new(chunk_pages: usize, max_chunks: usize, slots: usize) -> StackRegion {
        let r = StackRegion {
            dense: 0,
            chunk_pages,
            max_chunks: max_chunks.max(1),
            slots,
            taken: AtomicUsize::new(0),
            low: (0..slots).map(|_| AtomicUsize::new(0)).collect(),
        };
        for i in 0..slots {
            r.low[i].store(r.top(i) - r.chunk_bytes(), Ordering::Relaxed);
        }
        r
    }

    /// `slots` dense chunks of `bytes` each, above one unmapped page.
    pub fn dense(bytes: usize, slots: usize) -> StackRegion {
        StackRegion {
            dense: bytes,
            chunk_pages: 0,
            max_chunks: 1,
            slots,
            taken: AtomicUsize::new(0),
            low: Box::new([]),
        }
    }

    fn chunk_bytes(&self) -> usize {
        self.chunk_pages * PAGE
    }

    fn slot_bytes(&self) -> usize {
        (self.max_chunks * self.chunk_pages + 1) * PAGE
    }

    fn base(&self, i: usize) -> usize {
        if self.dense > 0 {
            return STACKS_VA + PAGE + i * self.dense;
        }
        STACKS_VA + i * self.slot_bytes()
    }

    fn top(&self, i: usize) -> usize {
        self.base(i) + self.slot_bytes()
    }

    /// Maps every slot's first chunk (home only, at the start).
    pub fn map_all(&self, memory: &mut Memory) -> Result<(), Error> {
        if self.dense > 0 {
            for p in 0..(self.slots * self.dense).div_ceil(PAGE) {
                memory.map((STACKS_VA / PAGE + 1 + p) as u64)?;
            }
            return Ok(());
        }
        for i in 0..self.slots {
            let low = self.low[i].load(Ordering::Relaxed);
            for p in 0..self.chunk_pages {
                memory.map(((low + p * PAGE) / PAGE) as u64)?;
            }
        }
        Ok(())
    }

    /// The slot whose unmapped guard holds `addr`, if any.
    pub fn guard_slot(&self, addr: usize) -> Option<usize> {
        if addr < STACKS_VA || self.dense > 0 {
            return None;
        }
        let i = (addr - STACKS_VA) / self.slot_bytes();
        (i < self.slots && addr < self.low[i].load(Ordering::Acquire)).then_some(i)
    }

    /// The keeper's answer to a fault at `addr` in slot `i`'s guard: maps chunks below the
    /// stack until `addr` is covered, if the slot's limit allows (one guard page always
    /// stays). Returns how many chunks it added; 0 means the chore must end.
    pub fn grow(&self, i: usize, addr: usize, memory: &mut Memory) -> usize {
        let floor = self.base(i) + PAGE;
        let mut low = self.low[i].load(Ordering::Acquire);
        let mut added = 0;
        while addr < low {
            let Some(next) = low.checked_sub(self.chunk_bytes()).filter(|&n| n >= floor) else {
                return 0;
            };
            for p in 0..self.chunk_pages {
                if memory.map(((next + p * PAGE) / PAGE) as u64).is_err() {
                    return 0;
                }
            }
            low = next;
            self.low[i].store(low, Ordering::Release);
            added += 1;
        }
        added
    }
}

/// The VPs' stack provider: the region's pre-mapped chunks, each once.
#[derive(Debug)]
pub struct GuardedStacks(pub alloc::sync::Arc<StackRegion>);

impl StackProvider for GuardedStacks {
    fn map_chunk(&self) -> Option<StackChunk> {
        let r = &*self.0;
        let i = r.taken.fetch_add(1, Ordering::Relaxed);
        if i >= r.slots {
            r.taken.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let base = r.base(i);
        if r.dense > 0 {
            // SAFETY: chunk i of the dense region is handed out once and mapped by
            // `map_all`; it has no guard (see the module's description).
            return Some(unsafe { StackChunk::new(base, r.dense, 0) });
        }
        let guard = r.low[i].load(Ordering::Acquire) - base;
        // SAFETY: slot i is handed out once; below its mapped pages `guard` bytes stay
        // unmapped (the keeper maps into them only while leaving a page) and the rest is
        // mapped read-write by `map_all`.
        Some(unsafe { StackChunk::new(base, r.slot_bytes(), guard) })
    }

    /// The pages stay until the task ends (`Memory::release`).
    fn unmap_chunk(&self, _chunk: StackChunk) {}
}
