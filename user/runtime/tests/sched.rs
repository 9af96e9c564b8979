//! The scheduler on host threads as VPs: spawn / join / yield, stealing, 10,000 chores alive,
//! the listener's remote actions, and stack chunks coming back to the pools.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{run, run_on, runtime};
use tessera_runtime::{
    ChoreKind, ChoreState, FeWord, SpawnError, Trap, TrapHandler, TrapOutcome, TrapTable, WaitQueue,
};

#[test]
fn spawn_and_join_return_each_result() {
    for vps in [1, 4] {
        let sum = run(vps, |ctx| {
            let handles: Vec<_> = (0..500u64)
                .map(|i| ctx.spawn(move |_| i * i).unwrap())
                .collect();
            handles.into_iter().map(|h| h.join(ctx)).sum::<u64>()
        });
        assert_eq!(sum, (0..500u64).map(|i| i * i).sum::<u64>(), "on {vps} VPs");
    }
}

#[test]
fn yield_lets_every_chore_on_one_vp_run() {
    let log = run(1, |ctx| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..3)
            .map(|n| {
                let log = log.clone();
                ctx.spawn(move |c| {
                    for round in 0..3 {
                        log.lock().unwrap().push((round, n));
                        c.yield_now();
                    }
                })
                .unwrap()
            })
            .collect();
        hs.into_iter().for_each(|h| h.join(ctx));
        Arc::try_unwrap(log).unwrap().into_inner().unwrap()
    });
    // Round-robin on one VP: every chore finishes a round before any starts the next.
    let rounds: Vec<u32> = log.iter().map(|&(r, _)| r).collect();
    assert_eq!(rounds, vec![0, 0, 0, 1, 1, 1, 2, 2, 2]);
}

#[test]
fn chores_spread_over_vps_by_stealing() {
    let seen = run(4, |ctx| {
        let seen = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        let hs: Vec<_> = (0..64)
            .map(|_| {
                let seen = seen.clone();
                ctx.spawn(move |c| {
                    let t = std::time::Instant::now();
                    while t.elapsed() < std::time::Duration::from_millis(2) {
                        std::hint::spin_loop();
                    }
                    seen.lock().unwrap().insert(c.vp());
                })
                .unwrap()
            })
            .collect();
        hs.into_iter().for_each(|h| h.join(ctx));
        let s = seen.lock().unwrap().clone();
        s
    });
    assert!(
        seen.len() > 1,
        "every chore ran on VP {seen:?}: nothing was stolen"
    );
}

#[test]
fn ten_thousand_chores_alive_at_once() {
    const N: usize = 10_000;
    let rt = runtime(2, 16 * 1024, N + 64);
    let probe = rt.clone();
    let peak = run_on(&rt, move |ctx| {
        let gate = Arc::new(WaitQueue::new());
        let arrived = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..N)
            .map(|i| {
                let (gate, arrived) = (gate.clone(), arrived.clone());
                ctx.spawn(move |c| {
                    gate.block_if(c, || {
                        arrived.fetch_add(1, Ordering::SeqCst);
                        true
                    });
                    i as u64
                })
                .unwrap()
            })
            .collect();
        while arrived.load(Ordering::SeqCst) < N {
            ctx.yield_now();
        }
        let peak = probe.live();
        assert!(hs.iter().all(|h| h.state() == ChoreState::Suspended));
        assert_eq!(gate.unblock_all(), N);
        let sum: u64 = hs.into_iter().map(|h| h.join(ctx)).sum();
        assert_eq!(sum, (0..N as u64).sum::<u64>());
        peak
    });
    assert!(peak > N, "only {peak} chores alive at the peak");
}

#[test]
fn spawn_past_the_provider_uses_the_reserve_then_fails_cleanly() {
    // 2 reserve + nothing else: the provider gives exactly the reserve.
    let rt = runtime(1, 16 * 1024, 2 + 1);
    let probe = rt.clone();
    let (results, emergency) = run_on(&rt, move |ctx| {
        let gate = Arc::new(FeWord::empty_cell());
        let mut results = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..4 {
            let g = gate.clone();
            match ctx.spawn(move |c| g.read_ff(c)) {
                Ok(h) => handles.push(h),
                Err(e) => results.push(e),
            }
        }
        let emergency = probe.stack_pool(0).2;
        gate.write_f(9);
        assert!(handles.into_iter().all(|h| h.join(ctx) == 9));
        (results, emergency)
    });
    // The main chore took the one chunk the refill got; the next two came from the reserve.
    assert_eq!(results, vec![SpawnError::NoStack, SpawnError::NoStack]);
    assert_eq!(emergency, 2);
    assert_eq!(
        rt.stack_pool(0).1,
        2,
        "returned chunks refill the reserve first"
    );
}

#[test]
fn remote_actions_run_in_the_target_vps_listener() {
    let rt = runtime(2, 32 * 1024, 1000);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let remote = rt.clone();
    run_on(&rt, move |_ctx| {
        for vp in 0..2 {
            let s = s.clone();
            remote.remote(vp, move |l| {
                s.lock()
                    .unwrap()
                    .push((vp, l.vp(), l.kind(), l.id().index()))
            });
        }
    });
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by_key(|e| e.0);
    assert_eq!(
        seen,
        vec![
            (0, 0, ChoreKind::Listener, 1),
            (1, 1, ChoreKind::Listener, 2)
        ]
    );
}

#[test]
fn chore_ids_name_the_task_and_print() {
    let ids = run(1, |ctx| {
        let h = ctx.spawn(|c| c.id()).unwrap();
        (ctx.id(), h.join(ctx))
    });
    assert_eq!(ids.0.task().get(), 7);
    assert_ne!(ids.0, ids.1);
    assert_eq!(format!("{}", ids.1), format!("7.{}", ids.1.index()));
}

#[test]
fn idle_vps_stealing_from_each_other_do_not_deadlock() {
    // Every VP idle, stealing from the others, while the only chore waits for a host thread:
    // a VP that kept its own queue locked while stealing deadlocked against the others.
    let gate = Arc::new(WaitQueue::new());
    let g = gate.clone();
    let opener = std::thread::spawn(move || {
        for _ in 0..5 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            while !g.unblock_one() {
                std::thread::yield_now();
            }
        }
    });
    let rounds = run(4, move |ctx| {
        for _ in 0..5 {
            gate.block(ctx);
        }
        5
    });
    opener.join().unwrap();
    assert_eq!(rounds, 5);
}

fn skip_two_bytes(_chore: tessera_runtime::ChoreId, trap: &mut Trap) -> TrapOutcome {
    trap.rip += 2;
    TrapOutcome::Resume
}

static SKIP_DIVIDE_ERRORS: TrapTable = TrapTable {
    handlers: {
        let mut h: [Option<TrapHandler>; 32] = [None; 32];
        h[0] = Some(skip_two_bytes);
        h
    },
};

#[test]
fn each_chore_has_its_own_tertiary_trap_handlers() {
    run(1, |ctx| {
        let own = ctx
            .spawn(|c| c.set_trap_table(&SKIP_DIVIDE_ERRORS))
            .unwrap();
        let plain = ctx.spawn(|_| ()).unwrap();
        while own.state() != ChoreState::Done || plain.state() != ChoreState::Done {
            ctx.yield_now();
        }
        let mut divide = Trap {
            vector: 0,
            address: 0,
            rip: 0x1000,
        };
        assert_eq!(own.chore().dispatch_trap(&mut divide), TrapOutcome::Resume);
        assert_eq!(divide.rip, 0x1002);
        let mut divide = Trap {
            vector: 0,
            address: 0,
            rip: 0x1000,
        };
        assert_eq!(
            plain.chore().dispatch_trap(&mut divide),
            TrapOutcome::EndChore
        );
        let mut page = Trap {
            vector: 14,
            address: 0xdead,
            rip: 0x1000,
        };
        assert_eq!(own.chore().dispatch_trap(&mut page), TrapOutcome::EndChore);
        // A fresh chore starts at the runtime's entry with its control block as argument.
        assert_eq!(own.chore().restart().1, own.chore() as *const _ as usize);
        assert_ne!(own.chore().restart().0, 0);
    });
}

/// Results live in the chores' chunks: a result whose handle was dropped before the chore
/// filed it, or after, is dropped exactly once; a closure too large for a quarter of a chunk
/// is refused, and the chunk is not lost.
#[test]
fn unjoined_results_are_dropped_once_and_oversized_closures_refused() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for vps in [1, 2] {
        let drops = run(vps, |ctx| {
            let drops = Arc::new(AtomicUsize::new(0));
            for i in 0..200 {
                let d = drops.clone();
                let h = ctx.spawn(move |_| Counted(d)).unwrap();
                if i % 2 == 0 {
                    // Dropped after the chore filed its result.
                    while h.state() != ChoreState::Done {
                        ctx.yield_now();
                    }
                }
                drop(h);
            }
            for _ in 0..100_000 {
                if drops.load(Ordering::SeqCst) == 200 {
                    break;
                }
                ctx.yield_now();
            }
            drops.load(Ordering::SeqCst)
        });
        assert_eq!(drops, 200, "on {vps} VPs");
    }
    // Asked from a host thread: built on a chore's own 32 KiB stack, the 16 KiB closure (and
    // the copies an unoptimised build makes of it) would overflow that stack first.
    let rt = runtime(1, 32 * 1024, 100);
    let big = [7u8; 16 * 1024];
    let refused = rt.spawn(0, move |_| big[0]).err();
    assert_eq!(refused, Some(SpawnError::TooLarge));
}

/// Two chores handing one VP to each other through full/empty cells (direct hand-offs,
/// `Vp::hand_off`) must not keep a chore waiting on the run queue for ever: it runs within a
/// few dozen hand-offs (`HANDOFF_LIMIT` is 16), not after the pair is done.
#[test]
fn direct_hand_offs_leave_the_run_queue_its_turn() {
    const ROUNDS: u64 = 10_000;
    let rounds_before_third = run(1, |ctx| {
        let (ping, pong) = (
            Arc::new(FeWord::empty_cell()),
            Arc::new(FeWord::empty_cell()),
        );
        let third_ran = Arc::new(AtomicUsize::new(usize::MAX));
        let round = Arc::new(AtomicUsize::new(0));
        let (a, b, r) = (ping.clone(), pong.clone(), round.clone());
        let echo = ctx
            .spawn(move |c| {
                for _ in 0..ROUNDS {
                    let v = a.read_fe(c);
                    b.write_ef(c, v + 1);
                }
            })
            .unwrap();
        let (seen, r2) = (third_ran.clone(), round.clone());
        let (p, q) = (ping.clone(), pong.clone());
        let driver = ctx
            .spawn(move |c| {
                for i in 0..ROUNDS {
                    r2.store(i as usize, Ordering::Relaxed);
                    p.write_ef(c, i);
                    assert_eq!(q.read_fe(c), i + 1);
                }
            })
            .unwrap();
        // Queued behind the pair: it runs once the run queue has its turn.
        let third = ctx
            .spawn(move |_| seen.store(r.load(Ordering::Relaxed), Ordering::Relaxed))
            .unwrap();
        driver.join(ctx);
        echo.join(ctx);
        third.join(ctx);
        third_ran.load(Ordering::Relaxed)
    });
    assert!(
        rounds_before_third < 100,
        "the queued chore ran only after {rounds_before_third} of {ROUNDS} rounds"
    );
}

/// On a task's only VP a spawn runs the new chore at once (the spawner waits in the VP's
/// hand-off place), so a join right after it finds the chore done; a chore that blocks gives
/// the VP back to its spawner.
#[test]
fn a_spawn_on_the_only_vp_runs_the_new_chore_first() {
    let (order, done_before_join, blocked_state) = run(1, |ctx| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        let h = ctx.spawn(move |_| o.lock().unwrap().push("child")).unwrap();
        order.lock().unwrap().push("spawner");
        let done_before_join = h.state() == ChoreState::Done;
        h.join(ctx);
        let gate = Arc::new(WaitQueue::new());
        let g = gate.clone();
        let blocked = ctx.spawn(move |c| g.block(c)).unwrap();
        let blocked_state = blocked.state();
        gate.unblock_all();
        blocked.join(ctx);
        let order = order.lock().unwrap().clone();
        (order, done_before_join, blocked_state)
    });
    assert_eq!(order, ["child", "spawner"]);
    assert!(
        done_before_join,
        "the new chore had not run when spawn returned"
    );
    assert_eq!(blocked_state, ChoreState::Suspended);
}

/// A spawner holding a spin-only lock may not give up its VP (it would suspend holding it),
/// so its new chore waits its turn even on the only VP.
#[test]
fn a_spawn_holding_a_spin_lock_lets_the_spawner_go_on() {
    let order = run(1, |ctx| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let lock = tessera_runtime::SpinLock::new(0u32);
        let o = order.clone();
        let h = {
            let _held = lock.lock(ctx);
            let h = ctx.spawn(move |_| o.lock().unwrap().push("child")).unwrap();
            order.lock().unwrap().push("spawner");
            h
        };
        h.join(ctx);
        let order = order.lock().unwrap().clone();
        order
    });
    assert_eq!(order, ["spawner", "child"]);
}
