//! Every lock class, full/empty cell operation and channel receive mode on host-thread VPs:
//! mutual exclusion under contention, FIFO hand-off, and no lost message or wake-up.

mod common;

use std::sync::{Arc, Mutex};

use common::run;
use tessera_runtime::{
    channel, ChannelId, ChoreState, Ctx, ExplicitSuspendLock, FeWord, Full, JoinHandle, Message,
    Ordinary, Spin, SpinLock, SpinSuspend, SpinSuspendLock, Suspend, TaskId, WaitQueue,
};

const CHORES: u64 = 16;
const ROUNDS: u64 = 300;

/// A counter that is not atomic: only the lock makes the increments add up.
fn bump(v: &mut u64) {
    let x = std::hint::black_box(*v);
    *v = x + 1;
}

fn contend<L: Send + Sync + 'static>(
    vps: usize,
    lock: L,
    body: fn(&mut Ctx<Ordinary>, &L, u64),
    read: fn(&mut Ctx<Ordinary>, &L) -> u64,
) {
    let lock = Arc::new(lock);
    let total = run(vps, move |ctx| {
        let hs: Vec<_> = (0..CHORES)
            .map(|n| {
                let l = lock.clone();
                ctx.spawn(move |c| (0..ROUNDS).for_each(|r| body(c, &l, n * ROUNDS + r)))
                    .unwrap()
            })
            .collect();
        hs.into_iter().for_each(|h| h.join(ctx));
        read(ctx, &lock)
    });
    assert_eq!(total, CHORES * ROUNDS, "lost increments on {vps} VPs");
}

#[test]
fn spin_lock_excludes_under_contention() {
    for vps in [1, 4] {
        contend(
            vps,
            SpinLock::new(0u64),
            |c, l, _| bump(&mut l.lock(c)),
            |c, l| *l.lock(c),
        );
    }
}

#[test]
fn spin_suspend_lock_excludes_with_holders_that_yield() {
    for vps in [1, 4] {
        contend(
            vps,
            SpinSuspendLock::new(0u64),
            |c, l, i| {
                let mut g = l.lock(c);
                bump(&mut g);
                if i % 8 == 0 {
                    // Holding across a yield makes the others spin out and suspend.
                    c.yield_now();
                }
                assert_eq!(l.holder(), Some(c.id()));
            },
            |c, l| *l.lock(c),
        );
    }
}

#[test]
fn explicit_suspend_lock_excludes_with_holders_that_yield() {
    for vps in [1, 4] {
        contend(
            vps,
            ExplicitSuspendLock::new(0u64),
            |c, l, i| {
                let mut g = l.lock(c);
                bump(&mut g);
                if i % 8 == 0 {
                    c.yield_now();
                }
            },
            |c, l| *l.lock(c),
        );
    }
}

/// Spawns `n` chores that each run `wait` and then log their number; on one VP, each runs up
/// to its wait (and suspends) before the next starts. Returns the handles once all suspended.
fn queue_up(
    ctx: &mut Ctx<Ordinary>,
    n: usize,
    log: &Arc<Mutex<Vec<usize>>>,
    wait: impl Fn(&mut Ctx<Ordinary>) + Send + Sync + Clone + 'static,
) -> Vec<JoinHandle<()>> {
    let hs: Vec<_> = (0..n)
        .map(|i| {
            let (log, wait) = (log.clone(), wait.clone());
            ctx.spawn(move |c| {
                wait(c);
                log.lock().unwrap().push(i);
            })
            .unwrap()
        })
        .collect();
    while !hs.iter().all(|h| h.state() == ChoreState::Suspended) {
        ctx.yield_now();
    }
    hs
}

#[test]
fn suspending_locks_hand_over_to_the_first_waiter_first() {
    let order = run(1, |ctx| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let ss = Arc::new(SpinSuspendLock::new(()));
        let es = Arc::new(ExplicitSuspendLock::new(()));
        let held_ss = ss.lock(ctx);
        let held_es = es.lock(ctx);
        let (a, b) = (ss.clone(), es.clone());
        let hs = queue_up(ctx, 4, &log, move |c| drop(a.lock(c)));
        assert_eq!(ss.waiting(), 4);
        assert!(ss.has_waiters());
        drop(held_ss);
        hs.into_iter().for_each(|h| h.join(ctx));
        let hs = queue_up(ctx, 4, &log, move |c| drop(b.lock(c)));
        assert_eq!(es.waiting(), 4);
        drop(held_es);
        hs.into_iter().for_each(|h| h.join(ctx));
        let v = log.lock().unwrap().clone();
        v
    });
    assert_eq!(order, vec![0, 1, 2, 3, 0, 1, 2, 3]);
}

#[test]
fn wait_queue_unblocks_one_in_order_then_all() {
    let order = run(1, |ctx| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let q = Arc::new(WaitQueue::new());
        let q2 = q.clone();
        let hs = queue_up(ctx, 5, &log, move |c| q2.block(c));
        assert!(q.unblock_one());
        assert!(q.unblock_one());
        while log.lock().unwrap().len() < 2 {
            ctx.yield_now();
        }
        assert_eq!(q.unblock_all(), 3);
        assert!(!q.unblock_one());
        hs.into_iter().for_each(|h| h.join(ctx));
        let v = log.lock().unwrap().clone();
        v
    });
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
}

#[test]
fn full_empty_cells_pass_every_value_once_across_vps() {
    const N: u64 = 2000;
    for vps in [1, 4] {
        let sum = run(vps, |ctx| {
            let cell = Arc::new(FeWord::empty_cell());
            let consumers: Vec<_> = (0..4)
                .map(|_| {
                    let cell = cell.clone();
                    ctx.spawn(move |c| (0..N / 4).map(|_| cell.read_fe(c)).sum::<u64>())
                        .unwrap()
                })
                .collect();
            let producers: Vec<_> = (0..4)
                .map(|p| {
                    let cell = cell.clone();
                    ctx.spawn(move |c| {
                        (0..N / 4).for_each(|i| cell.write_ef(c, 1 + p * (N / 4) + i))
                    })
                    .unwrap()
                })
                .collect();
            producers.into_iter().for_each(|h| h.join(ctx));
            let s = consumers.into_iter().map(|h| h.join(ctx)).sum::<u64>();
            assert!(!cell.is_full());
            s
        });
        assert_eq!(sum, N * (N + 1) / 2, "on {vps} VPs");
    }
}

#[test]
fn read_ff_waiters_all_see_the_value_and_leave_it_full() {
    let got = run(2, |ctx| {
        let cell = Arc::new(FeWord::empty_cell());
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let cell = cell.clone();
                ctx.spawn(move |c| cell.read_ff(c)).unwrap()
            })
            .collect();
        while cell.waiters() < 8 {
            ctx.yield_now();
        }
        cell.write_f(42);
        let got: Vec<u64> = hs.into_iter().map(|h| h.join(ctx)).collect();
        assert_eq!(cell.peek(), (42, true));
        assert_eq!(cell.read_fe(ctx), 42);
        assert_eq!(cell.try_read_fe(), None);
        cell.write_f(1);
        cell.empty();
        assert!(!cell.is_full());
        got
    });
    assert_eq!(got, vec![42; 8]);
}

fn msg(ctx: &Ctx<Ordinary>, n: u64) -> Message {
    Message::new(ctx.id(), 1, [n, 0, 0, 0, 0, 0])
}

#[test]
fn a_full_channel_refuses_and_loses_nothing() {
    run(1, |ctx| {
        let id = ChannelId {
            owner: TaskId::new(7).unwrap(),
            index: 1,
        };
        let (tx, rx) = channel(id, 3);
        for n in 0..3 {
            tx.send(msg(ctx, n)).unwrap();
        }
        let refused = msg(ctx, 99);
        assert_eq!(tx.send(refused), Err(Full(refused)));
        let got: Vec<u64> = (0..3).map(|_| rx.try_recv().unwrap().data[0]).collect();
        assert_eq!(got, vec![0, 1, 2]);
        assert_eq!(rx.try_recv(), None);
    });
}

#[test]
fn channel_receive_in_every_mode_across_vps() {
    const N: u64 = 3000;
    for vps in [1, 4] {
        let sum = run(vps, |ctx| {
            let id = ChannelId {
                owner: TaskId::new(7).unwrap(),
                index: 2,
            };
            let (tx, rx) = channel(id, 8);
            let receivers: Vec<_> = (0..3u64)
                .map(|mode| {
                    let rx = rx.clone();
                    ctx.spawn(move |c| {
                        let mut sum = 0;
                        loop {
                            let m = match mode {
                                0 => rx.recv(c, Suspend),
                                1 => rx.recv(c, SpinSuspend),
                                _ => {
                                    // Spin only briefly: spinning holds the VP.
                                    match rx.try_recv() {
                                        Some(m) => m,
                                        None => {
                                            c.yield_now();
                                            continue;
                                        }
                                    }
                                }
                            };
                            if m.header.tag == 0 {
                                return sum;
                            }
                            sum += m.data[0];
                        }
                    })
                    .unwrap()
                })
                .collect();
            for n in 1..=N {
                let mut m = msg(ctx, n);
                while let Err(Full(back)) = tx.send(m) {
                    m = back;
                    ctx.yield_now();
                }
            }
            for _ in 0..3 {
                let mut stop = Message::new(ctx.id(), 0, [0; 6]);
                while let Err(Full(back)) = tx.send(stop) {
                    stop = back;
                    ctx.yield_now();
                }
            }
            receivers.into_iter().map(|h| h.join(ctx)).sum::<u64>()
        });
        assert_eq!(sum, N * (N + 1) / 2, "on {vps} VPs");
    }
}

#[test]
fn spin_receive_works_from_any_context() {
    let got = run(2, |ctx| {
        let id = ChannelId {
            owner: TaskId::new(7).unwrap(),
            index: 3,
        };
        let (tx, rx) = channel(id, 1);
        let h = ctx.spawn_driver(move |d| rx.recv(d, Spin).data[0]).unwrap();
        tx.send(msg(ctx, 5)).unwrap();
        h.join(ctx)
    });
    assert_eq!(got, 5);
}

#[test]
fn one_message_wakes_exactly_one_suspended_receiver() {
    run(1, |ctx| {
        let id = ChannelId {
            owner: TaskId::new(7).unwrap(),
            index: 4,
        };
        let (tx, rx) = channel(id, 4);
        let log = Arc::new(Mutex::new(Vec::new()));
        let r = rx.clone();
        let hs = queue_up(ctx, 3, &log, move |c| {
            r.recv(c, Suspend);
        });
        assert_eq!(rx.waiting(), 3);
        tx.send(msg(ctx, 1)).unwrap();
        while log.lock().unwrap().is_empty() {
            ctx.yield_now();
        }
        for _ in 0..10 {
            ctx.yield_now();
        }
        assert_eq!(
            *log.lock().unwrap(),
            vec![0],
            "one message woke more than one receiver"
        );
        assert_eq!(rx.waiting(), 2);
        tx.send(msg(ctx, 2)).unwrap();
        tx.send(msg(ctx, 3)).unwrap();
        hs.into_iter().for_each(|h| h.join(ctx));
        assert_eq!(*log.lock().unwrap(), vec![0, 1, 2]);
    });
}
