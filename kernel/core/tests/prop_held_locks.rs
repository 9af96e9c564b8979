//! Property tests of the held-lock list and transaction numbers: any mix of read, write,
//! upgrade and try acquisitions against locks partly held by "another CPU" leaves the list and
//! the locks in agreement, never waits where waiting could deadlock, and `release_all` always
//! leaves the list empty and the locks as the other CPU holds them; transaction numbers are odd
//! and strictly increasing, and pins last exactly until their CPU's next entry.
// loom's atomics work only inside a loom model; these run in the ordinary build.
#![cfg(not(loom))]

use std::collections::BTreeMap;

use proptest::prelude::*;
use tessera_core::sync::{
    CpuId, HeldLocks, LockMode, MrowLock, Restart, Transactions, TransientPin, MAX_CPUS,
};

const KEYS: usize = 6;

fn mode(write: bool) -> LockMode {
    if write {
        LockMode::Write
    } else {
        LockMode::Read
    }
}

/// What the other CPU holds on each key.
fn outside() -> impl Strategy<Value = Vec<Option<LockMode>>> {
    prop::collection::vec(
        prop_oneof![
            Just(None),
            Just(Some(LockMode::Read)),
            Just(Some(LockMode::Write))
        ],
        KEYS,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_list_and_the_locks_agree_and_release_all_empties_it(
        ext in outside(),
        ops in prop::collection::vec((0..KEYS, any::<bool>(), any::<bool>()), 0..24),
    ) {
        let table: Vec<MrowLock> = (0..KEYS).map(|_| MrowLock::new()).collect();
        for (k, m) in ext.iter().enumerate() {
            match m {
                Some(LockMode::Read) => table[k].read(),
                Some(LockMode::Write) => table[k].write(),
                None => {}
            }
        }
        let mut held: HeldLocks<usize, 8> = HeldLocks::new();
        let mut model: BTreeMap<usize, LockMode> = BTreeMap::new();
        for (key, write, only_try) in ops {
            let want = mode(write);
            let ascending = model.keys().all(|&k| k < key);
            let free_for = |m: LockMode| match m {
                LockMode::Read => ext[key] != Some(LockMode::Write),
                LockMode::Write => ext[key].is_none(),
            };
            let expect = match (model.get(&key).copied(), want) {
                (Some(LockMode::Write), _) | (Some(LockMode::Read), LockMode::Read) => Ok(()),
                (Some(LockMode::Read), LockMode::Write) => {
                    if free_for(LockMode::Write) { Ok(()) } else { Err(Restart) }
                }
                (None, m) if free_for(m) => Ok(()),
                // The documented spin: deadlock-free, and nobody here would ever release it.
                (None, _) if ascending && !only_try => continue,
                (None, _) => Err(Restart),
            };
            let got = if only_try {
                held.try_acquire(&table[..], key, want)
            } else {
                held.acquire(&table[..], key, want)
            };
            prop_assert_eq!(got, expect);
            if got.is_ok() {
                let m = model.entry(key).or_insert(want);
                if want == LockMode::Write {
                    *m = LockMode::Write;
                }
            }
            let listed: BTreeMap<usize, LockMode> = held.entries().collect();
            prop_assert_eq!(&listed, &model);
            for k in 0..KEYS {
                let readers = u32::from(ext[k] == Some(LockMode::Read)) + u32::from(model.get(&k) == Some(&LockMode::Read));
                let writer = ext[k] == Some(LockMode::Write) || model.get(&k) == Some(&LockMode::Write);
                prop_assert_eq!(table[k].readers(), readers);
                prop_assert_eq!(table[k].is_write_locked(), writer);
            }
        }
        held.release_all(&table[..]);
        prop_assert!(held.is_empty());
        for (k, m) in ext.iter().enumerate() {
            prop_assert_eq!(table[k].readers(), u32::from(*m == Some(LockMode::Read)));
            prop_assert_eq!(table[k].is_write_locked(), *m == Some(LockMode::Write));
            match m {
                Some(LockMode::Read) => table[k].unlock_read(),
                Some(LockMode::Write) => table[k].unlock_write(),
                None => {}
            }
        }
        prop_assert!(table.iter().all(MrowLock::is_free));
    }

    /// The operation phase's two-object rule: from an empty list over free locks it never
    /// restarts, takes the keys in ascending order, merges a repeated object into its stronger
    /// mode, and `release_all` frees both.
    #[test]
    fn lock_in_order_takes_two_objects_ascending(
        a in (0..KEYS, any::<bool>()),
        b in (0..KEYS, any::<bool>()),
    ) {
        let table: Vec<MrowLock> = (0..KEYS).map(|_| MrowLock::new()).collect();
        let mut held: HeldLocks<usize, 8> = HeldLocks::new();
        prop_assert_eq!(held.lock_in_order(&table[..], (a.0, mode(a.1)), (b.0, mode(b.1))), Ok(()));
        let keys: Vec<usize> = held.entries().map(|(k, _)| k).collect();
        let mut want = vec![a.0, b.0];
        want.sort_unstable();
        want.dedup();
        prop_assert_eq!(keys, want);
        for (k, _) in [a, b] {
            let strongest = if [a, b].iter().any(|&(k2, w2)| k2 == k && w2) { LockMode::Write } else { LockMode::Read };
            prop_assert_eq!(held.mode_of(k), Some(strongest));
            prop_assert_eq!(table[k].is_write_locked(), strongest == LockMode::Write);
        }
        held.release_all(&table[..]);
        prop_assert!(held.is_empty());
        prop_assert!(table.iter().all(MrowLock::is_free));
    }

    #[test]
    fn transaction_numbers_are_odd_and_strictly_increasing(
        ops in prop::collection::vec((0..MAX_CPUS, 0..3u8), 0..100),
    ) {
        let txns = Transactions::new();
        let pin = TransientPin::new();
        let mut pinned_at: Vec<Option<u64>> = vec![None; MAX_CPUS];
        for (c, kind) in ops {
            let cpu = CpuId::new(c).unwrap();
            match kind {
                0 => {
                    let before = txns.current(cpu);
                    let now = txns.enter(cpu);
                    prop_assert_eq!(now.get() % 2, 1);
                    prop_assert!(now > before);
                    prop_assert_eq!(txns.current(cpu), now);
                }
                1 => {
                    pin.pin(cpu, &txns);
                    pinned_at[c] = Some(txns.current(cpu).get());
                }
                _ => {}
            }
            let expect_by = |c: usize| pinned_at[c] == Some(txns.current(CpuId::new(c).unwrap()).get());
            for other in CpuId::all() {
                prop_assert_eq!(pin.is_pinned_by(other, &txns), expect_by(other.index()));
            }
            prop_assert_eq!(pin.is_pinned(&txns), (0..MAX_CPUS).any(expect_by));
        }
    }
}
