//! Model-checked suspension protocols: loom runs every interleaving of a few threads over the
//! same lock-cell, full/empty and channel code chores run; a `ThreadCtx` parks a thread where
//! a chore would be switched off its VP. A lost wake-up shows as a deadlock loom reports.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p tessera-runtime --release --test loom`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use tessera_runtime::loom_ctx::ThreadCtx;
use tessera_runtime::{
    channel, ChannelId, ChoreId, FeWord, Message, SpinSuspendLock, Suspend, TaskId, WaitQueue,
};

/// Every interleaving with up to a few forced switches: the spin phases of the locks make
/// the unbounded space too large, and the bugs these models look for (a lost wake-up, a wrong
/// hand-off) need only a couple of preemptions to show.
fn model(f: impl Fn() + Sync + Send + 'static) {
    model_bounded(2, f);
}

/// Three threads that all take the same spin-guarded list need a tighter bound to finish.
fn model_bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b.max_branches = 100_000;
    b.check(f);
}

fn id(n: u32) -> ChoreId {
    ChoreId::new(TaskId::new(1).unwrap(), n)
}

#[test]
fn spin_suspend_lock_excludes_and_hands_off() {
    model(|| {
        let lock = Arc::new(SpinSuspendLock::new(0u32));
        let inside = Arc::new(AtomicUsize::new(0));
        let ts: Vec<_> = (1..=2)
            .map(|n| {
                let (lock, inside) = (lock.clone(), inside.clone());
                thread::spawn(move || {
                    let mut ctx = ThreadCtx::new(id(n));
                    let mut g = lock.lock(&mut ctx);
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    *g += 1;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        let mut ctx = ThreadCtx::new(id(3));
        {
            let mut g = lock.lock(&mut ctx);
            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
            *g += 1;
            inside.fetch_sub(1, Ordering::SeqCst);
        }
        ts.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*lock.lock(&mut ctx), 3);
        assert_eq!(lock.holder(), None);
        assert!(!lock.has_waiters());
    });
}

#[test]
fn spin_suspend_lock_wakes_the_first_waiter_first() {
    model(|| {
        let lock = Arc::new(SpinSuspendLock::new(Vec::new()));
        let mut main = ThreadCtx::new(id(9));
        let held = lock.lock(&mut main);
        let mut ts = Vec::new();
        for n in 1..=2u32 {
            let l = lock.clone();
            ts.push(thread::spawn(move || {
                let mut ctx = ThreadCtx::new(id(n));
                l.lock(&mut ctx).push(n);
            }));
            // The next waiter starts only once this one is on the wait list.
            while lock.waiting() < n as usize {
                thread::yield_now();
            }
        }
        drop(held);
        ts.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*lock.lock(&mut main), vec![1, 2]);
    });
}

#[test]
fn full_empty_cell_passes_values_in_order_without_lost_wakeups() {
    model_bounded(1, || {
        let cell = Arc::new(FeWord::empty_cell());
        let c = cell.clone();
        let producer = thread::spawn(move || {
            let mut ctx = ThreadCtx::new(id(1));
            c.write_ef(&mut ctx, 1);
            c.write_ef(&mut ctx, 2);
        });
        let c = cell.clone();
        let peeker = thread::spawn(move || {
            let mut ctx = ThreadCtx::new(id(2));
            let v = c.read_ff(&mut ctx);
            assert!((1..=3).contains(&v));
        });
        let mut ctx = ThreadCtx::new(id(3));
        assert_eq!(cell.read_fe(&mut ctx), 1);
        assert_eq!(cell.read_fe(&mut ctx), 2);
        // A peeker that came after both reads waits for this.
        cell.write_f(3);
        producer.join().unwrap();
        peeker.join().unwrap();
        assert_eq!(cell.peek(), (3, true));
    });
}

#[test]
fn a_message_wakes_one_suspended_receiver_and_none_is_lost() {
    model_bounded(1, || {
        let cid = ChannelId {
            owner: TaskId::new(1).unwrap(),
            index: 1,
        };
        let (tx, rx) = channel(cid, 2);
        let receivers: Vec<_> = (1..=2u32)
            .map(|n| {
                let rx = rx.clone();
                thread::spawn(move || {
                    let mut ctx = ThreadCtx::new(id(n));
                    rx.recv(&mut ctx, Suspend).data[0]
                })
            })
            .collect();
        let mut sent = 0;
        for v in [10u64, 20] {
            tx.send(Message::new(id(3), 1, [v, 0, 0, 0, 0, 0])).unwrap();
            sent += v;
        }
        let got: u64 = receivers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(got, sent);
        assert!(rx.is_empty());
    });
}

#[test]
fn wait_queue_block_if_never_misses_an_unblock() {
    model(|| {
        let q = Arc::new(WaitQueue::new());
        let flag = Arc::new(AtomicUsize::new(0));
        let (q2, f2) = (q.clone(), flag.clone());
        let waiter = thread::spawn(move || {
            let mut ctx = ThreadCtx::new(id(1));
            q2.block_if(&mut ctx, || f2.load(Ordering::SeqCst) == 0);
            assert_eq!(f2.load(Ordering::SeqCst), 1);
        });
        flag.store(1, Ordering::SeqCst);
        q.unblock_all();
        waiter.join().unwrap();
    });
}

/// The SVC-notification loop against a kernel that checks and registers under one lock (seed
/// 000's `kc_xxx`): whether the event comes before the call, between its registration and its
/// suspension, or after, the caller completes (no lost notification), and exactly once.
#[test]
fn notification_is_never_lost() {
    use tessera_runtime::loom_ctx::NotifyTable;
    use tessera_runtime::{Attempt, Notification};
    model(|| {
        let table = Arc::new(NotifyTable::default());
        // The kernel object: (event happened, the registered notification word).
        let object = Arc::new(loom::sync::Mutex::new((false, None::<u64>)));
        let (t, o) = (table.clone(), object.clone());
        let caller = thread::spawn(move || {
            let mut ctx = ThreadCtx::new(id(1));
            let mut tries = 0;
            t.call(&mut ctx, &mut |n: Notification| {
                tries += 1;
                let mut obj = o.lock().unwrap();
                if obj.0 {
                    Attempt::Done(())
                } else {
                    obj.1 = Some(n.word);
                    Attempt::WouldBlock
                }
            });
            tries
        });
        let word = {
            let mut obj = object.lock().unwrap();
            obj.0 = true;
            obj.1.take()
        };
        if let Some(w) = word {
            assert!(table.deliver(w));
        }
        let tries = caller.join().unwrap();
        assert!((1..=2).contains(&tries), "{tries} tries");
    });
}
