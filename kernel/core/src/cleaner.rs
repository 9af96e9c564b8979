//! The cleaner: a bounded cache of reclaimable derived state (page-table frames built from
//! address-space objects, say) that evicts what no current kernel call depends on (seed 001,
//! section 3; DESIGN.md "Transient pins and the cleaner").
//!
//! # Invariants
//! - At most `capacity` entries, each key at most once.
//! - An entry transiently pinned by any CPU's current transaction is never evicted: whatever a
//!   call has checked stays until that CPU's next kernel entry.
//! - Eviction order is the clock (second chance): an entry used since the hand last passed it
//!   is skipped once, so recently used state tends to stay.
//! - When every entry is pinned, the cleaner says so (`None`, `CacheError::NothingEvictable`)
//!   and the caller fails its call or stalls; it never evicts a pinned entry to make room.
//!
//! # Assumptions
//! - Each cache sits behind one lock (lock order level 4; the derived page tables have one
//!   cache per address space, `derived_tables.rs`): lookups and pins take it for read
//!   (`&self`), inserts and evictions for write (`&mut self`). So no pin can be taken while an
//!   eviction tests pins, and a pin taken under the read lock outlives the lock, as it must.
//! - The cleaner runs only in the prepare phase, before the commit point.
//! - Capacity is small (bounded frames), so a lookup is a scan of the slots.

use alloc::vec::Vec;

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{CpuId, Transactions, TransientPin};

#[derive(Debug)]
struct Entry<K, V> {
    key: K,
    value: V,
    pin: TransientPin,
    used: AtomicBool,
}

/// Why an insert was refused; the value comes back to the caller, who still owns it.
#[derive(Debug, PartialEq, Eq)]
pub enum CacheError<V> {
    /// The key already has an entry.
    AlreadyPresent(V),
    /// The cache is full and every entry is pinned by a current call.
    NothingEvictable(V),
}

/// A bounded cache of derived state, keyed by `K`.
#[derive(Debug)]
pub struct ReclaimableCache<K, V> {
    slots: Vec<Option<Entry<K, V>>>,
    hand: usize,
}

impl<K: Copy + Eq, V> ReclaimableCache<K, V> {
    /// An empty cache of `capacity` entries; the only allocation it makes.
    pub fn new(capacity: usize) -> ReclaimableCache<K, V> {
        ReclaimableCache {
            slots: (0..capacity).map(|_| None).collect(),
            hand: 0,
        }
    }

    /// How many entries it can hold.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every slot holds an entry.
    pub fn is_full(&self) -> bool {
        self.slots.iter().all(Option::is_some)
    }

    /// Looks `key` up and pins it for `cpu`'s current call, which is about to rely on it.
    pub fn pin(&self, key: K, cpu: CpuId, txns: &Transactions) -> Option<&V> {
        let e = self.entry(key)?;
        e.pin.pin(cpu, txns);
        e.used.store(true, Ordering::Relaxed);
        Some(&e.value)
    }

    /// Looks `key` up without pinning (for checks that do not outlive the cache lock).
    pub fn get(&self, key: K) -> Option<&V> {
        self.entry(key).map(|e| &e.value)
    }

    /// Whether `key` is present and pinned by some CPU's current call.
    pub fn is_pinned(&self, key: K, txns: &Transactions) -> bool {
        self.entry(key).is_some_and(|e| e.pin.is_pinned(txns))
    }

    /// Adds `key`, pinned for `cpu`'s current call. When full, it first evicts one unpinned
    /// entry and returns it, so the caller can undo what it derived (unmap, free the frame).
    pub fn insert(
        &mut self,
        key: K,
        value: V,
        cpu: CpuId,
        txns: &Transactions,
    ) -> Result<Option<(K, V)>, CacheError<V>> {
        if self.entry(key).is_some() {
            return Err(CacheError::AlreadyPresent(value));
        }
        let (slot, evicted) = match self.slots.iter().position(Option::is_none) {
            Some(free) => (free, None),
            None => match self.victim(txns) {
                Some(v) => (v, self.slots[v].take().map(|e| (e.key, e.value))),
                None => return Err(CacheError::NothingEvictable(value)),
            },
        };
        let entry = Entry {
            key,
            value,
            pin: TransientPin::new(),
            used: AtomicBool::new(true),
        };
        entry.pin.pin(cpu, txns);
        self.slots[slot] = Some(entry);
        Ok(evicted)
    }

    /// Evicts one unpinned entry (an allocation elsewhere failed and its memory is wanted), or
    /// returns `None` if every entry is pinned or the cache is empty.
    pub fn evict_one(&mut self, txns: &Transactions) -> Option<(K, V)> {
        let v = self.victim(txns)?;
        self.slots[v].take().map(|e| (e.key, e.value))
    }

    /// Drops `key` whatever its pins: the object it was derived from is being destroyed or
    /// changed, under that object's write lock.
    pub fn remove(&mut self, key: K) -> Option<V> {
        let slot = self
            .slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|e| e.key == key))?;
        self.slots[slot].take().map(|e| e.value)
    }

    /// Drops the first entry whose key satisfies `pred`, whatever its pins (its object is being
    /// destroyed under that object's write lock).
    pub fn remove_first(&mut self, pred: impl Fn(&K) -> bool) -> Option<(K, V)> {
        let slot = self
            .slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|e| pred(&e.key)))?;
        self.slots[slot].take().map(|e| (e.key, e.value))
    }

    fn entry(&self, key: K) -> Option<&Entry<K, V>> {
        self.slots.iter().flatten().find(|e| e.key == key)
    }

    /// The clock: two sweeps find an unpinned entry if there is one (the first may only clear
    /// `used` bits).
    fn victim(&mut self, txns: &Transactions) -> Option<usize> {
        let n = self.slots.len();
        for _ in 0..2 * n {
            let at = self.hand;
            self.hand = (self.hand + 1) % n;
            if let Some(e) = &self.slots[at] {
                if e.pin.is_pinned(txns) {
                    continue;
                }
                if e.used.swap(false, Ordering::Relaxed) {
                    continue;
                }
                return Some(at);
            }
        }
        None
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn cpu(n: usize) -> CpuId {
        CpuId::new(n).unwrap()
    }

    #[test]
    fn evicts_only_what_no_current_call_pinned() {
        let t = Transactions::new();
        let mut c = ReclaimableCache::new(2);
        assert_eq!(c.insert(1, "a", cpu(0), &t), Ok(None));
        assert_eq!(c.insert(2, "b", cpu(1), &t), Ok(None));
        assert_eq!(
            c.insert(3, "c", cpu(0), &t),
            Err(CacheError::NothingEvictable("c"))
        );
        t.enter(cpu(0));
        assert_eq!(
            c.insert(3, "c", cpu(0), &t),
            Ok(Some((1, "a"))),
            "CPU 1's pin holds 2"
        );
        assert!(c.is_pinned(3, &t));
        assert!(c.is_pinned(2, &t));
        assert_eq!(c.evict_one(&t), None);
    }

    #[test]
    fn a_pin_lasts_until_that_cpus_next_entry() {
        let t = Transactions::new();
        let mut c = ReclaimableCache::new(4);
        c.insert(7, 70, cpu(2), &t).unwrap();
        t.enter(cpu(2));
        assert!(!c.is_pinned(7, &t));
        assert_eq!(c.pin(7, cpu(3), &t), Some(&70));
        assert_eq!(c.evict_one(&t), None);
        t.enter(cpu(3));
        assert_eq!(c.evict_one(&t), Some((7, 70)));
        assert!(c.is_empty());
    }

    #[test]
    fn recently_used_entries_get_a_second_chance() {
        let t = Transactions::new();
        let mut c = ReclaimableCache::new(3);
        for k in 0..3 {
            c.insert(k, k, cpu(0), &t).unwrap();
        }
        t.enter(cpu(0));
        c.evict_one(&t);
        c.insert(3, 3, cpu(0), &t).unwrap();
        t.enter(cpu(0));
        c.pin(1, cpu(1), &t);
        t.enter(cpu(1));
        assert_eq!(
            c.evict_one(&t).map(|(k, _)| k),
            Some(2),
            "1 was used, so 2 goes first"
        );
    }

    #[test]
    fn refuses_a_duplicate_key_and_returns_the_value() {
        let t = Transactions::new();
        let mut c = ReclaimableCache::new(2);
        c.insert(1, 10, cpu(0), &t).unwrap();
        assert_eq!(
            c.insert(1, 11, cpu(0), &t),
            Err(CacheError::AlreadyPresent(11))
        );
        assert_eq!(c.get(1), Some(&10));
    }

    #[test]
    fn remove_ignores_pins() {
        let t = Transactions::new();
        let mut c = ReclaimableCache::new(1);
        c.insert(1, 10, cpu(0), &t).unwrap();
        assert_eq!(c.remove(1), Some(10));
        assert_eq!(c.remove(1), None);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn remove_first_takes_matching_keys_one_at_a_time() {
        let t = Transactions::new();
        let mut c = ReclaimableCache::new(4);
        for k in [(1, 0), (2, 0), (1, 5)] {
            c.insert(k, k.1, cpu(0), &t).unwrap();
        }
        let mut gone = Vec::new();
        while let Some((k, _)) = c.remove_first(|k| k.0 == 1) {
            gone.push(k);
        }
        assert_eq!(gone, vec![(1, 0), (1, 5)]);
        assert_eq!(c.len(), 1, "the other space's table stays");
    }

    #[test]
    fn an_empty_or_zero_sized_cache_evicts_nothing() {
        let t = Transactions::new();
        let mut c: ReclaimableCache<u32, u32> = ReclaimableCache::new(0);
        assert_eq!(c.evict_one(&t), None);
        assert_eq!(
            c.insert(1, 1, cpu(0), &t),
            Err(CacheError::NothingEvictable(1))
        );
    }
}
