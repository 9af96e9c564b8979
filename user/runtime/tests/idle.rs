//! VPs that idle the way ring-3 VPs do, blocked until notified (or until their alarm's
//! deadline), with no spinning: work spawned on another VP wakes them, sleeps end, and when
//! the last chore exits every VP is woken to see that the task has finished.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{now_ns, MmapStacks};
use tessera_runtime::{Config, Idle, PoolConfig, Runtime, TaskId};

/// Per VP: a token set by `notify`, and a condition variable the VP blocks on.
struct ParkIdle(Vec<(Mutex<bool>, Condvar)>);

impl Idle for ParkIdle {
    fn idle(&self, vp: usize, deadline: Option<u64>) -> Option<u64> {
        let (token, cv) = &self.0[vp];
        let mut t = token.lock().unwrap();
        while !*t {
            match deadline {
                Some(d) => {
                    let now = now_ns();
                    if now >= d {
                        break;
                    }
                    t = cv.wait_timeout(t, Duration::from_nanos(d - now)).unwrap().0;
                }
                None => t = cv.wait(t).unwrap(),
            }
        }
        *t = false;
        None
    }
    fn notify(&self, vp: usize) {
        let (token, cv) = &self.0[vp];
        *token.lock().unwrap() = true;
        cv.notify_one();
    }
    fn now_ns(&self) -> u64 {
        now_ns()
    }
}

/// Runs `main` on `vps` parked-idle VPs; false if they did not all return within 20 s.
fn finishes(
    vps: usize,
    main: impl FnOnce(&mut tessera_runtime::Ctx<tessera_runtime::Ordinary>) + Send + 'static,
) -> bool {
    let idle = ParkIdle(
        (0..vps)
            .map(|_| (Mutex::new(false), Condvar::new()))
            .collect(),
    );
    let config = Config {
        task: TaskId::new(3).unwrap(),
        vps,
        pool: PoolConfig::default(),
    };
    let rt = Runtime::new(
        config,
        Box::new(MmapStacks::new(32 * 1024, 1000)),
        Box::new(idle),
    )
    .unwrap();
    rt.spawn(0, main).unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..vps {
        let (rt, tx) = (rt.clone(), tx.clone());
        std::thread::spawn(move || {
            rt.run_vp(i);
            tx.send(i).unwrap();
        });
    }
    (0..vps).all(|_| rx.recv_timeout(Duration::from_secs(20)).is_ok())
}

#[test]
fn blocked_idle_vps_all_return_when_the_task_ends() {
    let ran = Arc::new(Mutex::new(0));
    let r = ran.clone();
    assert!(
        finishes(4, move |ctx| {
            let hs: Vec<_> = (0..40)
                .map(|_| {
                    let r = r.clone();
                    ctx.spawn(move |c| {
                        c.yield_now();
                        *r.lock().unwrap() += 1;
                    })
                    .unwrap()
                })
                .collect();
            hs.into_iter().for_each(|h| h.join(ctx));
        }),
        "a VP idled forever"
    );
    assert_eq!(*ran.lock().unwrap(), 40);
}

#[test]
fn blocked_idle_vps_wake_for_their_sleepers() {
    assert!(
        finishes(2, |ctx| {
            let hs: Vec<_> = (0..6u64)
                .map(|i| {
                    ctx.spawn(move |c| {
                        let d = c.now_ns() + 1_000_000 * (i + 1);
                        c.sleep_until(d);
                        assert!(c.now_ns() >= d);
                    })
                    .unwrap()
                })
                .collect();
            hs.into_iter().for_each(|h| h.join(ctx));
        }),
        "a sleeper's VP never woke"
    );
}

/// Chores spawned on VP 0 while the others are blocked idle: a spawn wakes an idle VP, which
/// steals, so the chores run on more than one VP.
#[test]
fn a_spawn_wakes_an_idle_vp_to_steal() {
    let vps_seen = Arc::new(Mutex::new([0u32; 4]));
    let seen = vps_seen.clone();
    assert!(
        finishes(4, move |ctx| {
            // Let the other VPs go idle first.
            let end = now_ns() + 5_000_000;
            while now_ns() < end {
                std::hint::spin_loop();
            }
            let hs: Vec<_> = (0..40)
                .map(|_| {
                    let seen = seen.clone();
                    ctx.spawn(move |c| {
                        let end = now_ns() + 1_000_000;
                        while now_ns() < end {
                            std::hint::spin_loop();
                        }
                        seen.lock().unwrap()[c.vp()] += 1;
                    })
                    .unwrap()
                })
                .collect();
            hs.into_iter().for_each(|h| h.join(ctx));
        }),
        "a VP idled forever"
    );
    let seen = *vps_seen.lock().unwrap();
    assert!(
        seen.iter().filter(|&&n| n > 0).count() >= 2,
        "all chores ran on one VP: {seen:?}"
    );
}

/// A chore bound to one VP and suspended on a full/empty cell, served by a chore on the other
/// VP while the first is blocked idle: the wake must take the cross-VP path (its run queue
/// and a notification), not a direct hand-off (`Vp::hand_off` is for a waker on the woken
/// chore's own VP), or the waiter's VP never wakes. The main chore may start on either VP
/// (the other's thread can steal it first), so "the other VP" is the one it is not on.
#[test]
fn a_wake_from_another_vp_is_never_a_direct_hand_off() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let got = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    assert!(
        finishes(2, move |ctx| {
            ctx.bind_to_vp();
            let here = ctx.vp();
            let cell = Arc::new(tessera_runtime::FeWord::empty_cell());
            let running_on = Arc::new(AtomicUsize::new(usize::MAX));
            let (c2, on) = (cell.clone(), running_on.clone());
            // This VP stays busy below, so only the other (stealing) can run it.
            let waiter = ctx
                .spawn(move |c| {
                    c.bind_to_vp();
                    on.store(c.vp(), Ordering::SeqCst);
                    c2.read_fe(c)
                })
                .unwrap();
            while running_on.load(Ordering::SeqCst) == usize::MAX || cell.waiters() == 0 {
                std::hint::spin_loop();
            }
            assert_ne!(
                running_on.load(Ordering::SeqCst),
                here,
                "the waiter was not stolen"
            );
            // Let the waiter's VP go idle (blocked until notified).
            let end = now_ns() + 5_000_000;
            while now_ns() < end {
                std::hint::spin_loop();
            }
            cell.write_ef(ctx, 42);
            g.store(waiter.join(ctx) as usize, Ordering::SeqCst);
        }),
        "the waiter's VP was never told its chore was woken"
    );
    assert_eq!(got.load(std::sync::atomic::Ordering::SeqCst), 42);
}
