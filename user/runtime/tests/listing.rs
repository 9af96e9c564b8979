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
