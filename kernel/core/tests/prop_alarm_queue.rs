//! Property test of the alarm queue against a model (a sorted list): nearest deadline first,
//! arming order among equal deadlines, re-arming moves, removal is exact.

use proptest::prelude::*;
use tessera_core::alarm_queue::AlarmQueue;

const ALARMS: u32 = 12;

#[derive(Clone, Debug)]
enum Op {
    Set(u32, u64),
    Remove(u32),
    TakeFirst,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..ALARMS + 1, 0..40u64).prop_map(|(i, d)| Op::Set(i, d)),
        1 => (0..ALARMS).prop_map(Op::Remove),
        2 => Just(Op::TakeFirst),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn alarm_queue_matches_the_model(ops in prop::collection::vec(op(), 0..150)) {
        let mut q = AlarmQueue::new(ALARMS as usize);
        // (deadline, stamp, index), kept sorted.
        let mut model: Vec<(u64, u64, u32)> = Vec::new();
        for (stamp, op) in ops.into_iter().enumerate() {
            let stamp = stamp as u64;
            match op {
                Op::Set(i, d) => {
                    let fits = i < ALARMS;
                    prop_assert_eq!(q.set(i, d, stamp), fits);
                    if fits {
                        model.retain(|&(_, _, j)| j != i);
                        model.push((d, stamp, i));
                        model.sort();
                    }
                }
                Op::Remove(i) => {
                    let was = model.iter().any(|&(_, _, j)| j == i);
                    model.retain(|&(_, _, j)| j != i);
                    prop_assert_eq!(q.remove(i), was);
                }
                Op::TakeFirst => {
                    let expect = model.first().map(|&(d, _, i)| (i, d));
                    prop_assert_eq!(q.first(), expect);
                    if let Some((i, _)) = expect {
                        model.remove(0);
                        prop_assert!(q.remove(i));
                    }
                }
            }
            prop_assert_eq!(q.check_invariants(), Ok(()));
            prop_assert_eq!(q.len(), model.len());
            for &(d, _, i) in &model {
                prop_assert_eq!(q.deadline_of(i), Some(d));
            }
        }
    }
}
