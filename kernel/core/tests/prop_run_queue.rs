//! Property tests of the run queue against a model: the highest priority runs first, FIFO
//! within a level, head insertion for preempted processes, arbitrary removal, and stealing
//! that never takes a pinned id.

use std::collections::VecDeque;

use proptest::prelude::*;
use tessera_core::run_queue::{Position, Priority, RunQueue, RunQueueError, PRIORITY_LEVELS};

const IDS: usize = 16;

#[derive(Clone, Debug)]
enum Op {
    Enqueue(usize, u8, bool, bool),
    Pick,
    Steal,
    Remove(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..IDS + 1, 0..PRIORITY_LEVELS as u8, any::<bool>(), any::<bool>())
            .prop_map(|(i, p, h, pin)| Op::Enqueue(i, p, h, pin)),
        2 => Just(Op::Pick),
        1 => Just(Op::Steal),
        1 => (0..IDS).prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn run_queue_matches_the_model(ops in prop::collection::vec(op(), 0..120)) {
        let mut q: RunQueue<usize> = RunQueue::new(IDS);
        let mut levels: Vec<VecDeque<usize>> = vec![VecDeque::new(); PRIORITY_LEVELS];
        let mut pinned = [false; IDS];
        for op in ops {
            match op {
                Op::Enqueue(id, p, head, pin) => {
                    let prio = Priority::new(p).unwrap();
                    let at = if head { Position::Head } else { Position::Tail };
                    let expect = if id >= IDS {
                        Err(RunQueueError::SlotOutOfRange)
                    } else if levels.iter().any(|l| l.contains(&id)) {
                        Err(RunQueueError::AlreadyQueued)
                    } else {
                        if head { levels[p as usize].push_front(id) } else { levels[p as usize].push_back(id) }
                        pinned[id] = pin;
                        Ok(())
                    };
                    prop_assert_eq!(q.enqueue_pinned(id, prio, at, pin), expect);
                }
                Op::Pick => {
                    let expect = (0..PRIORITY_LEVELS).rev().find_map(|p| {
                        levels[p].pop_front().map(|id| (id, Priority::new(p as u8).unwrap()))
                    });
                    prop_assert_eq!(q.pick(), expect);
                }
                Op::Steal => {
                    let expect = (0..PRIORITY_LEVELS).rev().find_map(|p| {
                        let at = levels[p].iter().position(|&x| !pinned[x])?;
                        levels[p].remove(at).map(|id| (id, Priority::new(p as u8).unwrap()))
                    });
                    prop_assert_eq!(q.steal(), expect);
                }
                Op::Remove(id) => {
                    let expect = levels.iter_mut().enumerate().find_map(|(p, l)| {
                        let at = l.iter().position(|&x| x == id)?;
                        l.remove(at);
                        Priority::new(p as u8)
                    });
                    prop_assert_eq!(q.remove(id), expect);
                }
            }
            prop_assert_eq!(q.check_invariants(), Ok(()));
            prop_assert_eq!(q.len(), levels.iter().map(VecDeque::len).sum::<usize>());
            let top = (0..PRIORITY_LEVELS).rev().find(|&p| !levels[p].is_empty());
            prop_assert_eq!(q.highest(), top.and_then(|p| Priority::new(p as u8)));
            for running in [0u8, 15, 31] {
                let r = Priority::new(running).unwrap();
                prop_assert_eq!(q.should_preempt(r), top.is_some_and(|p| p > running as usize));
            }
        }
    }
}
