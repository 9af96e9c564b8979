//! Property tests of the stall queues against a plain model (a `VecDeque` of waiters and an
//! optional owner) over random operation sequences: FIFO wake order, at most one owner, the
//! owner never queued, halted waiters vanish, no id lost or duplicated.

use std::collections::VecDeque;

use proptest::prelude::*;
use tessera_core::stall_queue::{Owner, StallError, StallQueue, WakeAllQueue};

#[derive(Clone, Debug)]
enum Op {
    Stall(u32),
    WakeOne,
    Used(u32, bool),
    GiveBack(u32),
    Remove(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..6u32;
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
    fn apply(&mut self, op: &Op) -> (Option<Result<(), StallError>>, Option<u32>) {
        match *op {
            Op::Stall(id) if self.waiters.contains(&id) => (Some(Err(StallError::AlreadyQueued)), None),
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

fn apply(q: &mut StallQueue<u32>, op: &Op) -> (Option<Result<(), StallError>>, Option<u32>) {
    match *op {
        Op::Stall(id) => (Some(q.stall(id)), None),
        Op::WakeOne => (None, q.wake_one()),
        Op::Used(id, avail) => (None, q.used(id, avail)),
        Op::GiveBack(id) => {
            q.give_back(id);
            (None, None)
        }
        Op::Remove(id) => (None, q.remove(id)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn stall_queue_matches_the_model(ops in prop::collection::vec(op(), 0..80)) {
        let mut q = StallQueue::new();
        let mut m = Model::default();
        for op in &ops {
            prop_assert_eq!(apply(&mut q, op), m.apply(op), "op {:?}", op);
            prop_assert_eq!(q.check_invariants(), Ok(()));
            prop_assert_eq!(q.waiters().collect::<VecDeque<_>>(), m.waiters.clone());
            let owner = match q.owner() { Owner::Process(o) => Some(o), Owner::Resource => None };
            prop_assert_eq!(owner, m.owner);
        }
    }

    /// Without restalls or removals, ids are woken exactly in the order they stalled, each once,
    /// however wake-ups, uses and give-backs interleave.
    #[test]
    fn wake_order_is_stall_order(
        ids in Just((0..12u32).collect::<Vec<_>>()).prop_shuffle(),
        steps in prop::collection::vec((0..3u8, any::<bool>()), 0..60),
    ) {
        let mut q = StallQueue::new();
        for &id in &ids {
            q.stall(id).unwrap();
        }
        let mut woken = Vec::new();
        for (kind, avail) in steps {
            let w = match (kind, q.owner()) {
                (0, _) => q.wake_one(),
                (1, Owner::Process(o)) => q.used(o, avail),
                (_, Owner::Process(o)) => { q.give_back(o); None }
                (_, Owner::Resource) => None,
            };
            woken.extend(w);
            prop_assert_eq!(q.check_invariants(), Ok(()));
        }
        while let Some(w) = match q.owner() {
            Owner::Process(o) => q.used(o, true),
            Owner::Resource => q.wake_one(),
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
        let mut q = StallQueue::new();
        for op in &ops {
            apply(&mut q, op);
            let mut present: Vec<u32> = q.waiters().collect();
            if let Owner::Process(o) = q.owner() {
                present.push(o);
            }
            let n = present.len();
            present.sort_unstable();
            present.dedup();
            prop_assert_eq!(present.len(), n, "an id is both owner and waiter, or waits twice");
        }
    }

    #[test]
    fn wake_all_queue_matches_the_model(
        ops in prop::collection::vec((0..3u8, 0..6u32), 0..60),
    ) {
        let mut q = WakeAllQueue::new();
        let mut m: Vec<u32> = Vec::new();
        for (kind, id) in ops {
            match kind {
                0 => {
                    let expect = if m.contains(&id) { Err(StallError::AlreadyQueued) } else { m.push(id); Ok(()) };
                    prop_assert_eq!(q.wait(id), expect);
                }
                1 => {
                    let was = m.contains(&id);
                    m.retain(|&w| w != id);
                    prop_assert_eq!(q.remove(id), was);
                }
                _ => prop_assert_eq!(q.wake_all().collect::<Vec<_>>(), std::mem::take(&mut m)),
            }
            prop_assert_eq!(q.check_invariants(), Ok(()));
            prop_assert_eq!(q.len(), m.len());
        }
    }
}
