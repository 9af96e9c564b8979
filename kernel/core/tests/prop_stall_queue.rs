//! Property tests of the stall queues against a plain model (a `VecDeque` of waiters and an
//! optional owner) over random operation sequences: FIFO wake order, at most one owner, the
//! owner never queued, halted waiters vanish, no id lost or duplicated, and a waiter in one
//! queue at a time among queues sharing their nodes.

use std::collections::VecDeque;

use proptest::prelude::*;
use tessera_core::stall_queue::{Owner, StallError, StallNodes, StallQueue};

const IDS: u32 = 6;

fn nodes() -> StallNodes {
    StallNodes::new(IDS as usize * 2, IDS as usize * 2)
}

#[derive(Clone, Debug)]
enum Op {
    Stall(u32),
    WakeOne,
    Used(u32, bool),
    GiveBack(u32),
    Remove(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS;
    prop_oneof![
        3 => id.clone().prop_map(Op::Stall),
        2 => Just(Op::WakeOne),
        2 => (id.clone(), any::<bool>()).prop_map(|(i, a)| Op::Used(i, a)),
        1 => id.clone().prop_map(Op::GiveBack),
        1 => id.prop_map(Op::Remove),
    ]
}

/// The specification, written as plainly as possible.
#[derive(Default)]
struct Model {
    waiters: VecDeque<u32>,
    owner: Option<u32>,
}

impl Model {
    fn next(&mut self) -> Option<u32> {
        self.owner = self.waiters.pop_front();
        self.owner
    }

    /// Returns (stall result, id woken).
    fn apply(
        &mut self,
        op: &Op,
        elsewhere: &Model,
    ) -> (Option<Result<(), StallError>>, Option<u32>) {
        match *op {
            Op::Stall(id) if self.waiters.contains(&id) || elsewhere.waiters.contains(&id) => {
                (Some(Err(StallError::AlreadyQueued)), None)
            }
            Op::Stall(id) if self.owner == Some(id) => {
                self.owner = None;
                self.waiters.push_front(id);
                (Some(Ok(())), None)
            }
            Op::Stall(id) => {
                self.waiters.push_back(id);
                (Some(Ok(())), None)
            }
            Op::WakeOne if self.owner.is_none() => (None, self.next()),
            Op::WakeOne => (None, None),
            Op::Used(id, true) if self.owner == Some(id) => (None, self.next()),
            Op::Used(id, false) | Op::GiveBack(id) if self.owner == Some(id) => {
                self.owner = None;
                (None, None)
            }
            Op::Used(..) | Op::GiveBack(_) => (None, None),
            Op::Remove(id) if self.owner == Some(id) => (None, self.next()),
            Op::Remove(id) => {
                self.waiters.retain(|&w| w != id);
                (None, None)
            }
        }
    }
}

fn apply(
    n: &StallNodes,
    q: &mut StallQueue<u32>,
    op: &Op,
) -> (Option<Result<(), StallError>>, Option<u32>) {
    match *op {
        Op::Stall(id) => (Some(q.stall(n, id)), None),
        Op::WakeOne => (None, q.wake_one(n)),
        Op::Used(id, avail) => (None, q.used(n, id, avail)),
        Op::GiveBack(id) => {
            q.give_back(id);
            (None, None)
        }
        Op::Remove(id) => (None, q.remove(n, id)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Two queues share their nodes, as every sender queue in the kernel does.
    #[test]
    fn stall_queues_match_the_model(ops in prop::collection::vec((any::<bool>(), op()), 0..80)) {
        let n = nodes();
        let mut qs = [StallQueue::new(0), StallQueue::new(1)];
        let mut ms = [Model::default(), Model::default()];
        for (second, op) in &ops {
            let at = usize::from(*second);
            let (m, elsewhere) = if *second {
                let [a, b] = &mut ms;
                (b, &*a)
            } else {
                let [a, b] = &mut ms;
                (a, &*b)
            };
            prop_assert_eq!(apply(&n, &mut qs[at], op), m.apply(op, elsewhere), "op {:?}", op);
            for (q, m) in qs.iter().zip(&ms) {
                prop_assert_eq!(q.check_invariants(&n), Ok(()));
                prop_assert_eq!(q.waiters(&n).collect::<VecDeque<_>>(), m.waiters.clone());
                let owner = match q.owner() { Owner::Process(o) => Some(o), Owner::Resource => None };
                prop_assert_eq!(owner, m.owner);
            }
        }
    }

    /// Without restalls or removals, ids are woken exactly in the order they stalled, each once,
    /// however wake-ups, uses and give-backs interleave.
    #[test]
    fn wake_order_is_stall_order(
        ids in Just((0..12u32).collect::<Vec<_>>()).prop_shuffle(),
        steps in prop::collection::vec((0..3u8, any::<bool>()), 0..60),
    ) {
        let n = StallNodes::new(12, 12);
        let mut q = StallQueue::new(0);
        for &id in &ids {
            q.stall(&n, id).unwrap();
        }
        let mut woken = Vec::new();
        for (kind, avail) in steps {
            let w = match (kind, q.owner()) {
                (0, _) => q.wake_one(&n),
                (1, Owner::Process(o)) => q.used(&n, o, avail),
                (_, Owner::Process(o)) => { q.give_back(o); None }
                (_, Owner::Resource) => None,
            };
            woken.extend(w);
            prop_assert_eq!(q.check_invariants(&n), Ok(()));
        }
        while let Some(w) = match q.owner() {
            Owner::Process(o) => q.used(&n, o, true),
            Owner::Resource => q.wake_one(&n),
        } {
            woken.push(w);
        }
        prop_assert_eq!(woken, ids);
        prop_assert!(q.is_empty());
    }

    /// Every id that stalled is, at every step, exactly one of: waiting, owner, or gone through
    /// a wake-up or a removal; none appears twice.
    #[test]
    fn no_id_is_lost_or_duplicated(ops in prop::collection::vec(op(), 0..80)) {
        let n = nodes();
        let mut q = StallQueue::new(0);
        for op in &ops {
            apply(&n, &mut q, op);
            let mut present: Vec<u32> = q.waiters(&n).collect();
            if let Owner::Process(o) = q.owner() {
                present.push(o);
            }
            let n = present.len();
            present.sort_unstable();
            present.dedup();
            prop_assert_eq!(present.len(), n, "an id is both owner and waiter, or waits twice");
        }
    }
}
