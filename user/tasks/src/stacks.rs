//! Guarded stack chunks in ring 3 (seed 000 section 4): a region of the task's address space
//! cut into slots, one per chunk. A slot is an unmapped reserve (the guard, which the keeper
//! may grow the stack into one chunk at a time) below the chunk's mapped pages. The home maps
//! the first few chunks when the task starts; when the VPs' pools want more than are mapped,
//! the provider asks the home (a CALL to it, as a fault would be: `MORE_STACKS`), which maps
//! the next ones from the task's bank. The CALL runs on a refill stack (`refill.rs`), not on
//! the spawning chore's chunk. A refused refill leaves the pools their emergency reserve,
//! then a spawn fails with `NoStack`.
//!
//! A task may instead ask for dense chunks (`TaskConfig::dense_bytes`): chunks smaller than
//! a page, packed side by side with no guard between them, for tasks of very many small
//! chores (100,000 chores of 1.5 KiB take 37,500 pages, where a guarded page each would take
//! 100,000 and a slot record each on the heap). A dense chunk cannot grow, and an overflow
//! runs into its neighbour (only the lowest chunk has an unmapped page below it).
//!
//! Guarantees: with guarded chunks, at least one unmapped page always stays below a slot's
//! mapped pages, so an overflow faults instead of running into the slot below. A chunk is
//! handed out once, and only once every page of it is mapped.
//! Assumes: only the home maps (`map_through`, from its keeper loop or before the VPs run).

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use alloc::boxed::Box;
use tessera_runtime::{StackChunk, StackProvider};
use tessera_user::abi::Error;
use tessera_user::invoke;

use crate::memory::{Memory, PAGE};
use crate::refill::RefillStacks;
use crate::slots::HOME;

/// Where the slots start: far from the program image, the heap and the boot stack.
pub const STACKS_VA: usize = 0x10_0000_0000;
/// The order of a VP's CALL to the home asking for the chunks up to slot `d0` to be mapped.
pub(crate) const MORE_STACKS: u32 = 0x7a5e;
/// Chunks the home maps past the one asked for, so that a pool's refill is one CALL.
const MAP_AHEAD: usize = 16;

#[derive(Debug)]
pub struct StackRegion {
    /// Bytes of a dense chunk; 0 for guarded chunks of `chunk_pages`.
    dense: usize,
    chunk_pages: usize,
    max_chunks: usize,
    slots: usize,
    /// How many slots the pools have taken.
    taken: AtomicUsize,
    /// Pages mapped, in the order `page` gives (the home's only).
    pages: AtomicUsize,
    /// Slots whose every page is mapped: the first `mapped`.
    mapped: AtomicUsize,
    /// Whether the home is in its keeper loop, where it answers `MORE_STACKS`.
    serving: AtomicBool,
    /// `MORE_STACKS` CALLs made with the stack pointer inside the chunks' region (on a
    /// chore's chunk): none, since they run on a refill stack (for the task's report).
    calls_on_chunks: AtomicUsize,
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
            pages: AtomicUsize::new(0),
            mapped: AtomicUsize::new(0),
            serving: AtomicBool::new(false),
            calls_on_chunks: AtomicUsize::new(0),
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
            pages: AtomicUsize::new(0),
            mapped: AtomicUsize::new(0),
            serving: AtomicBool::new(false),
            calls_on_chunks: AtomicUsize::new(0),
            low: Box::new([]),
        }
    }

    /// `MORE_STACKS` CALLs made from a chore's chunk (see the field).
    pub fn calls_on_chunks(&self) -> usize {
        self.calls_on_chunks.load(Ordering::Relaxed)
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

    /// Page number of the `k`th page the region maps: dense chunks' pages in a row above the
    /// unmapped first page; a guarded slot's first chunk, slot after slot.
    fn page(&self, k: usize) -> u64 {
        let at = if self.dense > 0 {
            STACKS_VA + (1 + k) * PAGE
        } else {
            let (i, p) = (k / self.chunk_pages, k % self.chunk_pages);
            self.top(i) - self.chunk_bytes() + p * PAGE
        };
        (at / PAGE) as u64
    }

    /// Slots wholly inside the first `pages` pages.
    fn slots_in(&self, pages: usize) -> usize {
        let whole = match (pages * PAGE).checked_div(self.dense) {
            Some(dense) => dense,
            None => pages / self.chunk_pages,
        };
        whole.min(self.slots)
    }

    /// Pages the first `slots` slots need.
    fn pages_for(&self, slots: usize) -> usize {
        if self.dense > 0 {
            (slots * self.dense).div_ceil(PAGE)
        } else {
            slots * self.chunk_pages
        }
    }

    /// Maps the chunks of every slot below `through` (at most every slot) that is not mapped
    /// yet, from the task's bank (home only). On an error the pages mapped so far stay, and
    /// the slots they complete are handed out.
    pub fn map_through(&self, through: usize, memory: &mut Memory) -> Result<(), Error> {
        let want = self.pages_for(through.min(self.slots));
        for k in self.pages.load(Ordering::Relaxed)..want {
            memory.map(self.page(k))?;
            self.pages.store(k + 1, Ordering::Relaxed);
            self.mapped.store(self.slots_in(k + 1), Ordering::Release);
        }
        Ok(())
    }

    /// The home is in its keeper loop (or has left it): a pool short of chunks asks it.
    pub fn serve(&self, serving: bool) {
        self.serving.store(serving, Ordering::Release);
    }

    /// How many slots' chunks are mapped.
    pub fn mapped(&self) -> usize {
        self.mapped.load(Ordering::Acquire)
    }

    /// The home's answer to `MORE_STACKS` for slot `slot`: that slot and `MAP_AHEAD` more.
    pub fn map_more(&self, slot: usize, memory: &mut Memory) -> Result<(), Error> {
        self.map_through(slot.saturating_add(1 + MAP_AHEAD), memory)
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

/// The VPs' stack provider: the region's mapped chunks, each once, asking the home to map
/// more when a pool wants one past them.
#[derive(Debug)]
pub struct GuardedStacks {
    pub region: alloc::sync::Arc<StackRegion>,
    /// Where the CALL to the home runs.
    pub refill: RefillStacks,
}

impl GuardedStacks {
    fn chunk(&self, i: usize) -> StackChunk {
        let r = &*self.region;
        let base = r.base(i);
        if r.dense > 0 {
            // SAFETY: chunk i of the dense region is handed out once, and only once its
            // pages are mapped (`mapped`); it has no guard (see the module's description).
            return unsafe { StackChunk::new(base, r.dense, 0) };
        }
        let guard = r.low[i].load(Ordering::Acquire) - base;
        // SAFETY: slot i is handed out once, after its chunk is mapped read-write; below it
        // `guard` bytes stay unmapped (the keeper maps into them only while leaving a page).
        unsafe { StackChunk::new(base, r.slot_bytes(), guard) }
    }

    /// Asks the home to map the chunks through slot `i`, on a refill stack. Kept out of
    /// `map_chunk` so that a spawn that finds a chunk mapped pays no frame for it.
    #[cold]
    #[inline(never)]
    fn ask_home(&self, i: usize) -> bool {
        self.refill.run(|| {
            // Where this frame is: below the chunks' region on a refill stack.
            let probe = 0u8;
            if core::ptr::addr_of!(probe) as usize >= STACKS_VA {
                self.region.calls_on_chunks.fetch_add(1, Ordering::Relaxed);
            }
            invoke::call(HOME, MORE_STACKS, &[i as u64], &[]).is_ok()
        })
    }
}

impl StackProvider for GuardedStacks {
    fn map_chunk(&self) -> Option<StackChunk> {
        let r = &*self.region;
        let mut asked = false;
        loop {
            let i = r.taken.load(Ordering::Acquire);
            if i >= r.slots {
                return None;
            }
            if i >= r.mapped() {
                // Only a VP asks, and only while the home answers (before, the home itself
                // is the caller, spawning the first chore).
                if asked || !r.serving.load(Ordering::Acquire) {
                    return None;
                }
                if !self.ask_home(i) {
                    return None;
                }
                asked = true;
                continue;
            }
            if r.taken
                .compare_exchange(i, i + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Some(self.chunk(i));
            }
        }
    }

    /// The pages stay until the task ends (`Memory::release`).
    fn unmap_chunk(&self, _chunk: StackChunk) {}
}
