//! Chore stacks (seed 000 section 4): fixed-size chunks, each with a guard page below it, kept
//! in per-VP pools that refill from the task's memory (a `StackProvider`) when they dip below a
//! low-water mark, with a private emergency reserve so a spawn succeeds even when a refill
//! cannot get memory at that moment.
//!
//! A free chunk's record is kept in the chunk itself (at its top), so a pool of any size
//! allocates nothing.
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

/// A free chunk's record, at the top of the chunk it describes.
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
    fn push(&mut self, chunk: StackChunk) {
        let at = (chunk.top() - size_of::<FreeChunk>()) & !(align_of::<FreeChunk>() - 1);
        let record = at as *mut FreeChunk;
        // SAFETY: a free chunk's memory is the pool's, readable and writable at its top.
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
    /// Spawns that got their stack from the reserve: a sign the provider is short.
    pub emergency_uses: u64,
}

// SAFETY: the free records are in chunks the pool owns; the pool is used under a lock.
unsafe impl Send for StackPool {}

impl StackPool {
    pub fn new(config: PoolConfig) -> StackPool {
        StackPool {
            config,
            free: FreeList {
                head: core::ptr::null_mut(),
                len: 0,
            },
            reserve: Vec::new(),
            emergency_uses: 0,
        }
    }

    /// Fills the emergency reserve; fails only if the provider cannot give that many chunks.
    pub fn prime(&mut self, provider: &dyn StackProvider) -> bool {
        while self.reserve.len() < self.config.reserve {
            match provider.map_chunk() {
                Some(c) => self.reserve.push(c),
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
                    Some(c) => self.free.push(c),
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

    pub fn give(&mut self, chunk: StackChunk) {
        if self.reserve.len() < self.config.reserve {
            self.reserve.push(chunk);
        } else {
            self.free.push(chunk);
        }
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
