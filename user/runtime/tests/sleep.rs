//! Chore sleeps on the VPs' alarm queues: never early, the VP runs other chores meanwhile, and
//! sleepers on one VP wake in deadline order.

mod common;

use std::sync::{Arc, Mutex};

use common::{now_ns, run};

#[test]
fn a_sleeper_wakes_no_earlier_than_its_deadline_and_the_vp_keeps_running() {
    let (late, steps) = run(1, |ctx| {
        let sleeper = ctx
            .spawn(|c| {
                let deadline = c.now_ns() + 3_000_000;
                c.sleep_until(deadline);
                c.now_ns() as i64 - deadline as i64
            })
            .unwrap();
        let worker = ctx
            .spawn(|c| {
                let end = c.now_ns() + 1_000_000;
                let mut steps = 0u64;
                while c.now_ns() < end {
                    steps += 1;
                    c.yield_now();
                }
                steps
            })
            .unwrap();
        (sleeper.join(ctx), worker.join(ctx))
    });
    assert!(late >= 0, "woke {} ns early", -late);
    assert!(steps > 0, "the worker did not run while the sleeper slept");
}

#[test]
fn sleepers_on_one_vp_wake_in_deadline_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    run(1, move |ctx| {
        let base = now_ns() + 2_000_000;
        let hs: Vec<_> = [5u64, 1, 4, 2, 3]
            .into_iter()
            .map(|k| {
                let o = o.clone();
                ctx.spawn(move |c| {
                    c.sleep_until(base + k * 500_000);
                    o.lock().unwrap().push(k);
                })
                .unwrap()
            })
            .collect();
        hs.into_iter().for_each(|h| h.join(ctx));
    });
    assert_eq!(*order.lock().unwrap(), vec![1, 2, 3, 4, 5]);
}

#[test]
fn many_sleepers_on_four_vps_never_wake_early() {
    let early = run(4, |ctx| {
        let hs: Vec<_> = (0..80u64)
            .map(|i| {
                ctx.spawn(move |c| {
                    let deadline = c.now_ns() + 200_000 * (i % 7 + 1);
                    c.sleep_until(deadline);
                    u64::from(c.now_ns() < deadline)
                })
                .unwrap()
            })
            .collect();
        hs.into_iter().map(|h| h.join(ctx)).sum::<u64>()
    });
    assert_eq!(early, 0);
}
