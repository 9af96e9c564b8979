//! The chore listing (`Runtime::chores`, the shell's `chores`): every live chore with its
//! kind, state and VP; one suspended on a lock names the lock's holder; exited chores leave it.

mod common;

use std::sync::Arc;

use common::{run_on, runtime};
use tessera_runtime::{ChoreKind, ChoreState, SpinSuspendLock, WaitQueue};

#[test]
fn a_listing_shows_states_and_who_waits_for_whom() {
    let rt = runtime(1, 32 * 1024, 100);
    let probe = rt.clone();
    let (during, after) = run_on(&rt, move |ctx| {
        let lock = Arc::new(SpinSuspendLock::new(0u32));
        let gate = Arc::new(WaitQueue::new());
        let (l, g) = (lock.clone(), gate.clone());
        let holder = ctx
            .spawn(move |c| {
                let _held = l.lock(c);
                g.block(c);
                c.id()
            })
            .unwrap();
        let l = lock.clone();
        let waiter = ctx.spawn(move |c| *l.lock(c)).unwrap();
        while gate.is_empty() || lock.waiting() == 0 {
            ctx.yield_now();
        }
        let during = probe.chores();
        gate.unblock_all();
        let holder_id = holder.join(ctx);
        waiter.join(ctx);
        (
            during
                .into_iter()
                .map(|c| (c, holder_id))
                .collect::<Vec<_>>(),
            probe.chores(),
        )
    });
    let holder_id = during[0].1;
    let during: Vec<_> = during.into_iter().map(|(c, _)| c).collect();
    for c in &during {
        println!("{c}");
    }
    assert_eq!(during.len(), 4, "listener, main, holder, waiter");
    assert_eq!(during[0].kind, ChoreKind::Listener);
    let holder = during.iter().find(|c| c.id == holder_id).unwrap();
    assert_eq!(holder.state, ChoreState::Suspended);
    assert!(holder.waits_on.is_some() && holder.waits_for.is_none());
    let waiter = during.iter().find(|c| c.waits_for.is_some()).unwrap();
    assert_eq!(waiter.waits_for, Some(holder_id));
    assert!(format!("{waiter}").contains(&format!("held by {holder_id}")));
    // Only the main chore (still running when it took the snapshot) and the listener remain.
    assert_eq!(after.len(), 2);
}

/// A listing reads the control block place of every chunk, while chores are spawned into
/// them and exit from them on two VPs: it counts a reference to each chore it lists, so it
/// never sees one half written or gone, and lists only chores that have not exited.
#[test]
fn listings_taken_while_chores_come_and_go_see_only_live_chores() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let rt = runtime(2, 16 * 1024, 1000);
    let (probe, stop) = (rt.clone(), Arc::new(AtomicBool::new(false)));
    let s = stop.clone();
    let lister = std::thread::spawn(move || {
        let (mut listings, mut seen) = (0u64, 0usize);
        while !s.load(Ordering::Acquire) {
            for c in probe.chores() {
                assert_eq!(c.id.task().get(), 7, "a listed chore of another task: {c}");
                assert_ne!(c.state, ChoreState::Done, "an exited chore listed: {c}");
                assert!(c.vp < 2, "a listed chore on VP {}", c.vp);
                seen += 1;
            }
            listings += 1;
        }
        (listings, seen)
    });
    let sum = run_on(&rt, |ctx| {
        let mut sum = 0u64;
        for round in 0..500u64 {
            let hs: Vec<_> = (0..8u64)
                .map(|i| {
                    ctx.spawn(move |c| {
                        c.yield_now();
                        round * 8 + i
                    })
                    .unwrap()
                })
                .collect();
            sum += hs.into_iter().map(|h| h.join(ctx)).sum::<u64>();
        }
        sum
    });
    stop.store(true, Ordering::Release);
    let (listings, seen) = lister.join().unwrap();
    println!("{listings} listings, {seen} entries");
    assert_eq!(sum, (0..4000u64).sum::<u64>());
    assert!(
        listings > 0 && seen >= 2 * listings as usize,
        "the listener rows were missing"
    );
}
