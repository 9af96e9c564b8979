//! Model-checked tests of the lock primitives: loom runs every interleaving of a few threads
//! over the same `MrowLock` code the kernel runs (its atomics come from `sync::atomic`).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p tessera-core --release --test loom`.
//! Data is kept in loom's `UnsafeCell`, which fails the model on any access that the lock did
//! not order, so "readers and the writer never overlap" is checked by loom itself.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use tessera_core::cleaner::ReclaimableCache;
use tessera_core::stall_queue::{Owner, StallNodes, StallQueue};
use tessera_core::sync::{CpuId, HeldLocks, LockMode, MrowLock, Restart, Transactions};

/// A value behind an `MrowLock`, as kernel objects are.
struct Locked<T> {
    lock: MrowLock,
    data: UnsafeCell<T>,
}

// SAFETY: `data` is reached only between an acquire and the matching release of `lock`, which is
// what the tests check; loom's UnsafeCell reports any access the lock failed to order.
unsafe impl<T: Send> Sync for Locked<T> {}

impl<T> Locked<T> {
    fn new(v: T) -> Self {
        Locked {
            lock: MrowLock::new(),
            data: UnsafeCell::new(v),
        }
    }

    fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        self.lock.read();
        // SAFETY: a read hold excludes every writer, so no `&mut` to `data` exists now.
        let r = self.data.with(|p| f(unsafe { &*p }));
        self.lock.unlock_read();
        r
    }

    fn write<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.lock.write();
        // SAFETY: the write hold excludes every other holder, so this is the only reference.
        let r = self.data.with_mut(|p| f(unsafe { &mut *p }));
        self.lock.unlock_write();
        r
    }

    fn try_read<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        if !self.lock.try_read() {
            return None;
        }
        // SAFETY: a read hold excludes every writer, so no `&mut` to `data` exists now.
        let r = self.data.with(|p| f(unsafe { &*p }));
        self.lock.unlock_read();
        Some(r)
    }
}

/// Three threads: every interleaving with up to two preemptions (where almost all lock bugs
/// show). A bound of three trips a loom artifact: once the bound is spent, a spinner that
/// yields is re-selected forever while the preempted lock holder never runs again.
fn three_threads() -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b
}

/// Two readers that try and one writer that spins: the writer's waiting and the readers'
/// refusals are all explored, and no reader may see half of a write.
#[test]
fn readers_and_a_writer_never_overlap() {
    three_threads().check(|| {
        let v = Arc::new(Locked::new((0u32, 0u32)));
        let writer = {
            let v = Arc::clone(&v);
            thread::spawn(move || {
                v.write(|(a, b)| {
                    *a += 1;
                    *b += 1;
                })
            })
        };
        let reader = {
            let v = Arc::clone(&v);
            thread::spawn(move || {
                v.try_read(|&(a, b)| assert_eq!(a, b, "a reader saw a torn write"));
            })
        };
        v.try_read(|&(a, b)| assert_eq!(a, b, "a reader saw a torn write"));
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(v.read(|&p| p), (1, 1));
        assert!(v.lock.is_free());
    });
}

/// Two spinning writers and a spinning reader: the phase changes between writers (the `PHID`
/// bit) and readers entering between them keep every holder alone with the data.
#[test]
fn two_writers_and_a_spinning_reader_never_overlap() {
    three_threads().check(|| {
        let v = Arc::new(Locked::new((0u32, 0u32)));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let v = Arc::clone(&v);
                thread::spawn(move || {
                    v.write(|(a, b)| {
                        *a += 1;
                        *b += 1;
                    })
                })
            })
            .collect();
        v.read(|&(a, b)| assert_eq!(a, b, "a reader saw a torn write"));
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(v.read(|&p| p), (2, 2));
        assert!(v.lock.is_free());
    });
}

/// A spinning reader and a spinning writer both get in, one after the other.
#[test]
fn a_spinning_reader_and_writer_both_get_in() {
    loom::model(|| {
        let v = Arc::new(Locked::new(0u32));
        let writer = {
            let v = Arc::clone(&v);
            thread::spawn(move || v.write(|n| *n += 1))
        };
        let seen = v.read(|&n| n);
        assert!(seen <= 1);
        writer.join().unwrap();
        assert_eq!(v.read(|&n| n), 1);
    });
}

#[test]
fn two_writers_exclude_each_other() {
    loom::model(|| {
        let v = Arc::new(Locked::new(0u32));
        let other = {
            let v = Arc::clone(&v);
            thread::spawn(move || v.write(|n| *n += 1))
        };
        v.write(|n| *n += 1);
        other.join().unwrap();
        assert_eq!(v.read(|&n| n), 2);
    });
}

#[test]
fn try_write_fails_while_read_held() {
    loom::model(|| {
        let lock = Arc::new(MrowLock::new());
        let reading = Arc::new(AtomicBool::new(false));
        let reader = {
            let (lock, reading) = (Arc::clone(&lock), Arc::clone(&reading));
            thread::spawn(move || {
                lock.read();
                reading.store(true, Ordering::SeqCst);
                reading.store(false, Ordering::SeqCst);
                lock.unlock_read();
            })
        };
        if lock.try_write() {
            assert!(
                !reading.load(Ordering::SeqCst),
                "write hold granted to a read-held lock"
            );
            lock.unlock_write();
        }
        reader.join().unwrap();
        assert!(lock.is_free());
    });
}

#[test]
fn held_lock_lists_release_everything() {
    loom::model(|| {
        let table: Arc<Vec<MrowLock>> = Arc::new((0..2).map(|_| MrowLock::new()).collect());
        let other = {
            let table = Arc::clone(&table);
            thread::spawn(move || {
                let mut held: HeldLocks<usize, 4> = HeldLocks::new();
                held.lock_in_order(&table[..], (1, LockMode::Write), (0, LockMode::Read))
                    .expect("ascending order never restarts");
                held.release_all(&table[..]);
                assert!(held.is_empty());
            })
        };
        // Descending order: the second lock is only tried, and a failure abandons the path.
        let mut held: HeldLocks<usize, 4> = HeldLocks::new();
        held.write(&table[..], 1).unwrap();
        match held.read(&table[..], 0) {
            Ok(()) => assert_eq!(held.len(), 2),
            Err(Restart) => assert_eq!(held.len(), 1),
        }
        held.release_all(&table[..]);
        assert!(held.is_empty());
        other.join().unwrap();
        assert!(table.iter().all(MrowLock::is_free));
    });
}

/// Two paths write-locking the same two objects in opposite orders: the one going down only
/// tries, restarts on contention (releasing everything) and re-runs; both always finish.
#[test]
fn crossing_paths_restart_instead_of_deadlocking() {
    loom::model(|| {
        let table: Arc<Vec<MrowLock>> = Arc::new((0..2).map(|_| MrowLock::new()).collect());
        let up = {
            let table = Arc::clone(&table);
            thread::spawn(move || {
                let mut held: HeldLocks<usize, 4> = HeldLocks::new();
                held.write(&table[..], 0).unwrap();
                held.write(&table[..], 1)
                    .expect("ascending order never restarts");
                held.release_all(&table[..]);
            })
        };
        let mut held: HeldLocks<usize, 4> = HeldLocks::new();
        loop {
            let path = held
                .write(&table[..], 1)
                .and_then(|()| held.write(&table[..], 0));
            held.release_all(&table[..]);
            match path {
                Ok(()) => break,
                Err(Restart) => thread::yield_now(),
            }
        }
        up.join().unwrap();
        assert!(table.iter().all(MrowLock::is_free));
    });
}

/// One path in seed 001's two phases: its self-lock `me`, read locks on the two shared
/// objects (2 and 3) in the order `marshal` gives, all dropped by `operate`, then both
/// write-locked for the operation in ascending order; any restart re-runs it from scratch.
fn two_phase_path(me: usize, marshal: [usize; 2], table: &[MrowLock], cells: &[UnsafeCell<u32>]) {
    let mut held: HeldLocks<usize, 4> = HeldLocks::new();
    loop {
        let mut path = || -> Result<(), Restart> {
            held.write(table, me)?;
            held.marshal();
            held.read(table, marshal[0])?;
            held.read(table, marshal[1])?;
            held.operate(table);
            assert_eq!(
                held.len(),
                1,
                "only the self-lock outlives the marshal phase"
            );
            held.lock_in_order(table, (2, LockMode::Write), (3, LockMode::Write))?;
            // COMMIT POINT: both objects are write-locked.
            for c in cells {
                // SAFETY: the write lock on this object is held (loom checks the ordering).
                c.with_mut(|p| unsafe { *p += 1 });
            }
            Ok(())
        };
        let done = path();
        held.release_all(table);
        match done {
            Ok(()) => return,
            Err(Restart) => thread::yield_now(),
        }
    }
}

/// Two CPUs marshal the same two objects in opposite orders (the second read of one of them
/// is below its top, so only tried), then write both: neither deadlocks, both operations run,
/// and they never overlap.
#[test]
fn two_phase_paths_in_opposite_orders_both_finish() {
    three_threads().check(|| {
        // 0 and 1: each CPU's caller; 2 and 3: the objects both operate on.
        let table: Arc<Vec<MrowLock>> = Arc::new((0..4).map(|_| MrowLock::new()).collect());
        let cells: Arc<Vec<UnsafeCell<u32>>> =
            Arc::new((0..2).map(|_| UnsafeCell::new(0)).collect());
        let other = {
            let (table, cells) = (Arc::clone(&table), Arc::clone(&cells));
            thread::spawn(move || two_phase_path(1, [3, 2], &table, &cells))
        };
        two_phase_path(0, [2, 3], &table, &cells);
        other.join().unwrap();
        for c in cells.iter() {
            // SAFETY: both paths have finished; nothing else reaches the cells.
            assert_eq!(c.with(|p| unsafe { *p }), 2);
        }
        assert!(table.iter().all(MrowLock::is_free));
    });
}

/// A CPU that pinned a cache entry under the cache's read lock can rely on it after dropping
/// the lock, while another CPU's cleaner evicts under the write lock: the lock orders the pin
/// against the eviction, and the pin holds until the pinning CPU's next entry.
#[test]
fn a_pinned_cache_entry_is_never_evicted() {
    loom::model(|| {
        let (cpu0, cpu1) = (CpuId::new(0).unwrap(), CpuId::new(1).unwrap());
        let txns = Arc::new(Transactions::new());
        let cache = Arc::new(Locked::new(ReclaimableCache::<u32, u32>::new(1)));
        cache.write(|c| c.insert(7, 70, cpu1, &txns)).unwrap();
        txns.enter(cpu1);
        let cleaner = {
            let (txns, cache) = (Arc::clone(&txns), Arc::clone(&cache));
            thread::spawn(move || {
                txns.enter(cpu1);
                cache.write(|c| c.evict_one(&txns))
            })
        };
        if cache.read(|c| c.pin(7, cpu0, &txns).copied()) == Some(70) {
            assert_eq!(
                cache.read(|c| c.get(7).copied()),
                Some(70),
                "evicted while pinned"
            );
        }
        let evicted = cleaner.join().unwrap();
        txns.enter(cpu0);
        let left = cache.write(|c| c.evict_one(&txns));
        assert_eq!(
            evicted.or(left),
            Some((7, 70)),
            "an unpinned entry is evictable"
        );
    });
}

#[test]
fn a_stall_queue_behind_a_lock_keeps_fifo_and_one_owner() {
    loom::model(|| {
        // The nodes' relaxed atomics are ordered by the queue's lock alone, which loom checks.
        let n = Arc::new(StallNodes::new(4, 4));
        let q = Arc::new(Locked::new((StallQueue::<u32>::new(0), Vec::new())));
        let staller = {
            let (q, n) = (Arc::clone(&q), Arc::clone(&n));
            thread::spawn(move || {
                for id in [1, 2] {
                    q.write(|(q, _)| {
                        q.stall(&n, id).unwrap();
                        q.check_invariants(&n).unwrap();
                    });
                }
            })
        };
        let waker = {
            let (q, n) = (Arc::clone(&q), Arc::clone(&n));
            thread::spawn(move || {
                q.write(|(q, woken)| {
                    woken.extend(q.wake_one(&n));
                    q.check_invariants(&n).unwrap();
                });
                q.write(|(q, woken)| {
                    if let Owner::Process(o) = q.owner() {
                        woken.extend(q.used(&n, o, true));
                    }
                    q.check_invariants(&n).unwrap();
                });
            })
        };
        staller.join().unwrap();
        waker.join().unwrap();
        q.write(|(q, woken)| {
            while !q.is_empty() {
                match q.owner() {
                    Owner::Process(o) => woken.extend(q.used(&n, o, true)),
                    Owner::Resource => woken.extend(q.wake_one(&n)),
                }
                q.check_invariants(&n).unwrap();
            }
            assert_eq!(*woken, vec![1, 2], "wake order must be stall order");
        });
    });
}
