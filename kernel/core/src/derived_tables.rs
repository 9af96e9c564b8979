//! The derived page tables of all address spaces: one cleaner's cache (`cleaner.rs`) per
//! address-space slot, so a page fault locks only its own space's cache, never one lock shared
//! by every fault on every CPU (seed 001, section 4: no global lock on a common path).
//!
//! # Invariants
//! - An entry keyed `(space, table)` is in the cache of slot `space.index`.
//! - `count` is the number of entries in all caches together, and never above `budget`: the
//!   frames the kernel spends on derived tables in all. A unit of it is taken (`take_unit`)
//!   before an entry is added to a cache that does not replace one of its own.
//!
//! # Locks
//! Each cache has its own lock, at level 4 of the lock order (`sync/mod.rs`): a leaf, taken
//! alone, in a prepare phase, for one lookup, pin, insert, eviction or removal. The cleaner
//! looks for a victim in one cache at a time, so no two are ever held together.
//!
//! # Sizes
//! A cache holds at most `per_space` entries, a lookup scans them, and every slot exists from
//! boot: so one space may not take the whole budget. `per_space` is four times an even share of
//! it (at least 16 tables: 32 MiB of mappings, and never more than the budget), a space
//! beyond it replaces its own least recently used tables: they are a cache, refilled by faults.

use alloc::boxed::Box;
use spin::mutex::SpinMutex;

use crate::cap::ObjId;
use crate::cleaner::{CacheError, ReclaimableCache};
use crate::platform::Frame;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{CpuId, Transactions};

/// The key of a derived table: its space and its number (virtual page number / 512).
pub type TableKey = (ObjId, u64);

/// Why `DerivedTables::insert` added nothing; the frame goes back to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotInserted {
    /// The table is there already (another CPU made it first).
    Present(Frame),
    /// Its space's cache is full and every table in it is pinned by a current call.
    AllPinned(Frame),
    /// Its space's cache has room but the budget is spent: evict a table of any space
    /// (`evict_one`) and try again.
    OverBudget(Frame),
}

impl From<CacheError<Frame>> for NotInserted {
    fn from(e: CacheError<Frame>) -> NotInserted {
        match e {
            CacheError::AlreadyPresent(f) => NotInserted::Present(f),
            CacheError::NothingEvictable(f) => NotInserted::AllPinned(f),
        }
    }
}

/// Every space's derived tables, within one budget of frames.
#[derive(Debug)]
pub struct DerivedTables {
    caches: Box<[SpinMutex<ReclaimableCache<TableKey, Frame>>]>,
    count: AtomicU64,
    budget: usize,
    /// The cache the cleaner tries first next time, so evictions go round the spaces.
    hand: AtomicU64,
}

impl DerivedTables {
    /// Caches for `spaces` address-space slots, `budget` tables in all.
    pub fn new(spaces: usize, budget: usize) -> DerivedTables {
        let per_space = budget.min((4 * budget).div_ceil(spaces.max(1)).max(16));
        DerivedTables {
            caches: (0..spaces.max(1))
                .map(|_| SpinMutex::new(ReclaimableCache::new(per_space)))
                .collect(),
            count: AtomicU64::new(0),
            budget,
            hand: AtomicU64::new(0),
        }
    }

    fn cache(&self, space: ObjId) -> &SpinMutex<ReclaimableCache<TableKey, Frame>> {
        &self.caches[space.index as usize % self.caches.len()]
    }

    /// Looks `key` up and pins it for `cpu`'s current call (`ReclaimableCache::pin`).
    pub fn pin(&self, key: TableKey, cpu: CpuId, txns: &Transactions) -> Option<Frame> {
        self.cache(key.0).lock().pin(key, cpu, txns).copied()
    }

    /// Looks `key` up without pinning (for checks).
    pub fn get(&self, key: TableKey) -> Option<Frame> {
        self.cache(key.0).lock().get(key).copied()
    }

    /// How many tables are cached in all.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Acquire) as usize
    }

    /// Whether no table is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `key`, pinned for `cpu`'s current call. A full cache of its space replaces one of
    /// its own unpinned entries and returns it (the caller unhooks it). `OverBudget` if its
    /// cache has room but the budget is spent: the caller evicts from any (`evict_one`) and
    /// tries again.
    pub fn insert(
        &self,
        key: TableKey,
        value: Frame,
        cpu: CpuId,
        txns: &Transactions,
    ) -> Result<Option<(TableKey, Frame)>, NotInserted> {
        let mut cache = self.cache(key.0).lock();
        if cache.get(key).is_some() {
            return Err(NotInserted::Present(value));
        }
        if cache.is_full() {
            return Ok(cache.insert(key, value, cpu, txns)?);
        }
        if !self.take_unit() {
            return Err(NotInserted::OverBudget(value));
        }
        let done = cache.insert(key, value, cpu, txns);
        if !matches!(done, Ok(None)) {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
        Ok(done?)
    }

    /// Evicts one unpinned table of any space, trying the caches one at a time from the hand;
    /// `None` if every table is pinned or none is cached.
    pub fn evict_one(&self, txns: &Transactions) -> Option<(TableKey, Frame)> {
        let n = self.caches.len();
        let start = self.hand.fetch_add(1, Ordering::Relaxed) as usize % n;
        (0..n).find_map(|i| {
            let evicted = self.caches[(start + i) % n].lock().evict_one(txns)?;
            self.count.fetch_sub(1, Ordering::AcqRel);
            Some(evicted)
        })
    }

    /// Drops one table of `space`, whatever its pins (the space is being destroyed).
    pub fn remove_one_of(&self, space: ObjId) -> Option<(TableKey, Frame)> {
        let removed = self.cache(space).lock().remove_first(|k| k.0 == space)?;
        self.count.fetch_sub(1, Ordering::AcqRel);
        Some(removed)
    }

    /// Takes one unit of the budget, if any is left.
    fn take_unit(&self) -> bool {
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c < self.budget as u64).then_some(c + 1)
            })
            .is_ok()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn key(space: u32, table: u64) -> TableKey {
        (
            ObjId {
                index: space,
                generation: 1,
            },
            table,
        )
    }

    #[test]
    fn the_budget_is_shared_and_each_space_has_its_own_cache() {
        let t = Transactions::new();
        let cpu = CpuId::new(0).unwrap();
        let d = DerivedTables::new(4, 2);
        assert_eq!(d.insert(key(0, 1), Frame(10), cpu, &t), Ok(None));
        assert_eq!(d.insert(key(1, 1), Frame(11), cpu, &t), Ok(None));
        assert_eq!(
            d.insert(key(1, 1), Frame(12), cpu, &t),
            Err(NotInserted::Present(Frame(12)))
        );
        assert_eq!(
            d.insert(key(2, 1), Frame(13), cpu, &t),
            Err(NotInserted::OverBudget(Frame(13))),
            "space 2's cache is empty but the budget of 2 is spent"
        );
        assert_eq!(d.evict_one(&t), None, "both are pinned by CPU 0's call");
        t.enter(cpu);
        let evicted = d.evict_one(&t).expect("the pins are gone");
        assert_eq!(d.len(), 1);
        assert_eq!(d.insert(key(2, 1), Frame(13), cpu, &t), Ok(None));
        assert_eq!(d.get(evicted.0), None);
        assert_eq!(d.get(key(2, 1)), Some(Frame(13)));
        assert_eq!(d.remove_one_of(key(2, 1).0), Some((key(2, 1), Frame(13))));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn a_full_cache_replaces_its_own_tables() {
        let t = Transactions::new();
        let cpu = CpuId::new(0).unwrap();
        let d = DerivedTables::new(64, 64);
        for i in 0..16 {
            assert_eq!(d.insert(key(3, i), Frame(i), cpu, &t), Ok(None));
        }
        t.enter(cpu);
        let replaced = d.insert(key(3, 99), Frame(99), cpu, &t).unwrap();
        assert!(replaced.is_some_and(|(k, _)| k.0 == key(3, 0).0));
        assert_eq!(d.len(), 16, "a replacement takes no unit of the budget");
    }
}
