//! Property tests of the cleaner: under any sequence of inserts, pins, kernel entries,
//! evictions and removals it never evicts a pinned entry, never exceeds its capacity, and says
//! "nothing evictable" only when every entry is pinned.
// loom's atomics work only inside a loom model; these run in the ordinary build.
#![cfg(not(loom))]

use std::collections::BTreeSet;

use proptest::prelude::*;
use tessera_core::cleaner::{CacheError, ReclaimableCache};
use tessera_core::sync::{CpuId, Transactions};

const CAPACITY: usize = 4;
const CPUS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Insert(u8, usize),
    Pin(u8, usize),
    Enter(usize),
    Evict,
    Remove(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..8u8, 0..CPUS).prop_map(|(k, c)| Op::Insert(k, c)),
        2 => (0..8u8, 0..CPUS).prop_map(|(k, c)| Op::Pin(k, c)),
        3 => (0..CPUS).prop_map(Op::Enter),
        1 => Just(Op::Evict),
        1 => (0..8u8).prop_map(Op::Remove),
    ]
}

fn cpu(c: usize) -> CpuId {
    CpuId::new(c).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_evicts_a_pinned_entry(ops in prop::collection::vec(op(), 0..100)) {
        let txns = Transactions::new();
        let mut cache: ReclaimableCache<u8, u32> = ReclaimableCache::new(CAPACITY);
        let mut present: BTreeSet<u8> = BTreeSet::new();
        for op in ops {
            let pinned: BTreeSet<u8> = present.iter().copied().filter(|&k| cache.is_pinned(k, &txns)).collect();
            match op {
                Op::Insert(k, c) => match cache.insert(k, u32::from(k) * 10, cpu(c), &txns) {
                    Ok(evicted) => {
                        prop_assert!(!present.contains(&k));
                        prop_assert_eq!(evicted.is_some(), present.len() == CAPACITY);
                        if let Some((e, v)) = evicted {
                            prop_assert!(!pinned.contains(&e), "evicted pinned entry {}", e);
                            prop_assert_eq!(v, u32::from(e) * 10);
                            present.remove(&e);
                        }
                        present.insert(k);
                        prop_assert!(cache.is_pinned(k, &txns), "an insert pins for its call");
                    }
                    Err(CacheError::AlreadyPresent(_)) => prop_assert!(present.contains(&k)),
                    Err(CacheError::NothingEvictable(_)) => {
                        prop_assert!(!present.contains(&k));
                        prop_assert_eq!(present.len(), CAPACITY);
                        prop_assert_eq!(&pinned, &present);
                    }
                },
                Op::Pin(k, c) => {
                    prop_assert_eq!(cache.pin(k, cpu(c), &txns).is_some(), present.contains(&k));
                }
                Op::Enter(c) => {
                    txns.enter(cpu(c));
                }
                Op::Evict => match cache.evict_one(&txns) {
                    Some((e, _)) => {
                        prop_assert!(!pinned.contains(&e), "evicted pinned entry {}", e);
                        prop_assert!(present.remove(&e));
                    }
                    None => prop_assert_eq!(&pinned, &present),
                },
                Op::Remove(k) => {
                    prop_assert_eq!(cache.remove(k).is_some(), present.remove(&k));
                }
            }
            prop_assert_eq!(cache.len(), present.len());
            prop_assert!(cache.len() <= CAPACITY);
        }
    }
}
