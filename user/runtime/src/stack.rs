//! Chore stacks (seed 000 section 4): fixed-size chunks, each with a guard page below it, kept
//! in per-VP pools that refill from the task's memory (a `StackProvider`) when they dip below a
//! low-water mark, with a private emergency reserve so a spawn succeeds even when a refill
//! cannot get memory at that moment.
//!
//! A free chunk's record is kept in the chunk itself, at its bottom (the top is where a
//! chore's control block lives, which the task's listing reads: `Runtime::chores`), so the
//! free chunks take no memory of their own. The pool also links every chunk it has had from
//! its provider, for that listing, through the chunk's last word (`CHUNK_LINK_BYTES`), so
//! that a pool of any size allocates nothing (a ring-3 program's heap is 64 KiB).
//!
//! Guarantees: a chunk comes from exactly one pool or one chore at a time; the reserve is used
//! only when the free list is empty and the provider failed, and is refilled first on return.
//! Assumes: the provider maps the guard page inaccessible, so an overflow faults instead of
//! corrupting the chunk below.

use alloc::vec::Vec;

/// One stack chunk: `base..base + guard` is the guard page, `base + guard..base + len` the stack.
#[derive(Debug)]
pub struct StackChunk {
    base: usize,
    len: usize,
    guard: usize,
}

impl StackChunk {
    /// # Safety
    /// `base..base + len` must be memory owned by the caller for the chunk's lifetime, with
    /// `base..base + guard` inaccessible and the rest readable and writable.
    pub unsafe fn new(base: usize, len: usize, guard: usize) -> StackChunk {
        StackChunk { base, len, guard }
    }

    pub fn base(&self) -> usize {
        self.base
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len <= self.guard
    }

    pub fn top(&self) -> usize {
        self.base + self.len
    }

    pub fn guard(&self) -> core::ops::Range<usize> {
        self.base..self.base + self.guard
    }
}

/// Bytes at the very top of every chunk that link it to the next chunk its pool has had
/// (`StackPool::known`), written once when the pool gets it; the control block sits below.
pub const CHUNK_LINK_BYTES: usize = 8;

/// Where a task's stack chunks come from: on the host, mmap; in ring 3, the user library's
/// memory API.
pub trait StackProvider: Send + Sync {
    /// Maps a fresh chunk with its guard page, or `None` when memory is short now.
    fn map_chunk(&self) -> Option<StackChunk>;
    /// Takes back a chunk no chore uses (the runtime is going away).
    fn unmap_chunk(&self, chunk: StackChunk);
}

#[derive(Clone, Copy, Debug)]
pub struct PoolConfig {
    /// Refill when fewer than this many chunks are free.
    pub low_water: usize,
    /// How many chunks one refill asks the provider for.
    pub refill: usize,
    /// Chunks kept aside for when a refill fails.
    pub reserve: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            low_water: 4,
            refill: 16,
            reserve: 2,
        }
    }
}

/// A free chunk's record, at the bottom of the chunk it describes.
struct FreeChunk {
    chunk: StackChunk,
    next: *mut FreeChunk,
}

/// The free chunks, linked through their own memory.
#[derive(Debug)]
struct FreeList {
    head: *mut FreeChunk,
    len: usize,
}

impl FreeList {
    const fn new() -> FreeList {
        FreeList {
            head: core::ptr::null_mut(),
            len: 0,
        }
    }

    fn push(&mut self, chunk: StackChunk) {
        let align = align_of::<FreeChunk>();
        let at = (chunk.guard().end + align - 1) & !(align - 1);
        let record = at as *mut FreeChunk;
        // SAFETY: a free chunk's memory is the pool's, readable and writable above its guard.
        unsafe {
            record.write(FreeChunk {
                chunk,
                next: self.head,
            })
        };
        self.head = record;
        self.len += 1;
    }

    fn pop(&mut self) -> Option<StackChunk> {
        if self.head.is_null() {
            return None;
        }
        // SAFETY: the head record was written by `push` into a chunk still in the pool.
        let record = unsafe { self.head.read() };
        self.head = record.next;
        self.len -= 1;
        Some(record.chunk)
    }
}

#[derive(Debug)]
pub struct StackPool {
    config: PoolConfig,
    free: FreeList,
    reserve: Vec<StackChunk>,
    /// The top of the last chunk this pool had from the provider (0: none), whose link word
    /// names the one before, and so on: every chunk it has had, wherever it is now.
    known: usize,
    /// Spawns that got their stack from the reserve: a sign the provider is short.
    pub emergency_uses: u64,
}

// SAFETY: the free records are in chunks the pool owns; the pool is used under a lock.
unsafe impl Send for StackPool {}

impl StackPool {
    pub fn new(config: PoolConfig) -> StackPool {
        StackPool {
            config,
            free: FreeList::new(),
            reserve: Vec::new(),
            known: 0,
            emergency_uses: 0,
        }
    }

    /// Fills the emergency reserve; fails only if the provider cannot give that many chunks.
    pub fn prime(&mut self, provider: &dyn StackProvider) -> bool {
        while self.reserve.len() < self.config.reserve {
            match provider.map_chunk() {
                Some(c) => {
                    self.remember(&c);
                    self.reserve.push(c);
                }
                None => return false,
            }
        }
        true
    }

    #[inline]
    pub fn take(&mut self, provider: &dyn StackProvider) -> Option<StackChunk> {
        if self.free.len < self.config.low_water {
            for _ in 0..self.config.refill {
                match provider.map_chunk() {
                    Some(c) => {
                        self.remember(&c);
                        self.free.push(c);
                    }
                    None => break,
                }
            }
        }
        if let Some(c) = self.free.pop() {
            return Some(c);
        }
        let c = self.reserve.pop()?;
        self.emergency_uses += 1;
        Some(c)
    }

    /// Whether the emergency reserve is short of chunks (a returned chunk refills it first).
    pub fn reserve_short(&self) -> bool {
        self.reserve.len() < self.config.reserve
    }

    pub fn give(&mut self, chunk: StackChunk) {
        if self.reserve.len() < self.config.reserve {
            self.reserve.push(chunk);
        } else {
            self.free.push(chunk);
        }
    }

    /// Links a chunk fresh from the provider to the ones the pool has had before.
    fn remember(&mut self, chunk: &StackChunk) {
        let link = (chunk.top() - CHUNK_LINK_BYTES) as *mut usize;
        // SAFETY: the chunk is the pool's, its memory readable and writable, and its last
        // word is kept for this link (no control block or stack reaches it).
        unsafe { link.write(self.known) };
        self.known = chunk.top();
    }

    /// The tops of the chunks this pool has had from its provider (free or in use).
    ///
    /// # Safety
    /// Every chunk the pool has had must still be mapped while the iterator is used (the
    /// provider has taken none back: `forget_known` comes first).
    pub unsafe fn known(&self) -> impl Iterator<Item = usize> + '_ {
        let mut at = self.known;
        core::iter::from_fn(move || {
            let top = (at != 0).then_some(at)?;
            // SAFETY: the caller's contract; `remember` wrote the link when it linked `top`.
            at = unsafe { ((top - CHUNK_LINK_BYTES) as *const usize).read() };
            Some(top)
        })
    }

    /// Forgets the chunks it has had: they are about to go back to the provider.
    pub fn forget_known(&mut self) {
        self.known = 0;
    }

    /// Empties the pool, reserve included.
    pub fn drain(&mut self) -> impl Iterator<Item = StackChunk> + '_ {
        let (free, reserve) = (&mut self.free, &mut self.reserve);
        core::iter::from_fn(|| free.pop()).chain(reserve.drain(..))
    }

    pub fn free_chunks(&self) -> usize {
        self.free.len
    }

    pub fn reserve_chunks(&self) -> usize {
        self.reserve.len()
    }
}
