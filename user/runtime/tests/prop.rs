//! Property tests against models: the full/empty cell's non-waiting operations against a
//! (value, full) pair, a channel's send / try_recv against a bounded FIFO, and a stack pool's
//! take / give against counts of free, reserve and mapped chunks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use tessera_runtime::{
    channel, ChannelId, ChoreId, FeWord, Full, Message, PoolConfig, StackChunk, StackPool,
    StackProvider, TaskId,
};

#[derive(Clone, Debug)]
enum FeCall {
    TryReadFE,
    TryReadFF,
    TryWriteEF(u64),
    WriteF(u64),
    Empty,
}

fn fe_call() -> impl Strategy<Value = FeCall> {
    prop_oneof![
        Just(FeCall::TryReadFE),
        Just(FeCall::TryReadFF),
        any::<u64>().prop_map(FeCall::TryWriteEF),
        any::<u64>().prop_map(FeCall::WriteF),
        Just(FeCall::Empty),
    ]
}

proptest! {
    #[test]
    fn full_empty_cell_matches_its_model(start in proptest::option::of(any::<u64>()),
                                         calls in proptest::collection::vec(fe_call(), 0..64)) {
        let cell = match start {
            Some(v) => FeWord::full_cell(v),
            None => FeWord::empty_cell(),
        };
        let (mut value, mut full) = (start.unwrap_or(0), start.is_some());
        for call in calls {
            match call {
                FeCall::TryReadFE => {
                    let want = full.then_some(value);
                    full = false;
                    prop_assert_eq!(cell.try_read_fe(), want);
                }
                FeCall::TryReadFF => prop_assert_eq!(cell.try_read_ff(), full.then_some(value)),
                FeCall::TryWriteEF(v) => {
                    let want = if full { Err(v) } else { value = v; full = true; Ok(()) };
                    prop_assert_eq!(cell.try_write_ef(v), want);
                }
                FeCall::WriteF(v) => { cell.write_f(v); value = v; full = true; }
                FeCall::Empty => { cell.empty(); full = false; }
            }
            prop_assert_eq!(cell.is_full(), full);
            if full {
                prop_assert_eq!(cell.peek(), (value, true));
            }
        }
    }

    #[test]
    fn channel_matches_a_bounded_fifo(capacity in 1usize..8,
                                      calls in proptest::collection::vec(proptest::option::of(any::<u64>()), 0..64)) {
        let id = ChannelId { owner: TaskId::new(3).unwrap(), index: 1 };
        let sender = ChoreId::new(TaskId::new(4).unwrap(), 9);
        let (tx, rx) = channel(id, capacity);
        let mut model = VecDeque::new();
        for call in calls {
            match call {
                Some(v) => {
                    let m = Message::new(sender, 1, [v; 6]);
                    if model.len() == capacity {
                        prop_assert_eq!(tx.send(m), Err(Full(m)));
                    } else {
                        model.push_back(m);
                        prop_assert_eq!(tx.send(m), Ok(()));
                    }
                }
                None => prop_assert_eq!(rx.try_recv(), model.pop_front()),
            }
            prop_assert_eq!(rx.len(), model.len());
        }
    }

    #[test]
    fn stack_pool_matches_its_counts(limit in 0usize..40,
                                     calls in proptest::collection::vec(any::<bool>(), 0..80)) {
        let config = PoolConfig { low_water: 2, refill: 3, reserve: 2 };
        let provider = Counting { mapped: AtomicUsize::new(0), limit };
        let mut pool = StackPool::new(config);
        let primed = pool.prime(&provider);
        prop_assert_eq!(primed, limit >= 2);
        let mut held = Vec::new();
        for take in calls {
            if take {
                let (free, reserve) = (pool.free_chunks(), pool.reserve_chunks());
                let room = limit - provider.mapped.load(Ordering::Relaxed);
                let refilled = if free < config.low_water { config.refill.min(room) } else { 0 };
                let emergency = pool.emergency_uses;
                match pool.take(&provider) {
                    Some(c) => {
                        if free + refilled == 0 {
                            prop_assert_eq!(pool.emergency_uses, emergency + 1);
                            prop_assert_eq!(pool.reserve_chunks(), reserve - 1);
                        } else {
                            prop_assert_eq!(pool.free_chunks(), free + refilled - 1);
                        }
                        held.push(c);
                    }
                    None => prop_assert_eq!(free + refilled + reserve, 0),
                }
            } else if let Some(c) = held.pop() {
                let reserve = pool.reserve_chunks();
                pool.give(c);
                prop_assert_eq!(pool.reserve_chunks(), (reserve + 1).min(config.reserve));
            }
            let in_pool = pool.free_chunks() + pool.reserve_chunks();
            prop_assert_eq!(in_pool + held.len(), provider.mapped.load(Ordering::Relaxed));
        }
    }
}

/// Hands out chunks of leaked heap memory (never run on: the pool keeps its records in them)
/// up to a limit.
struct Counting {
    mapped: AtomicUsize,
    limit: usize,
}

impl StackProvider for Counting {
    fn map_chunk(&self) -> Option<StackChunk> {
        let n = self.mapped.load(Ordering::Relaxed);
        if n == self.limit {
            return None;
        }
        self.mapped.store(n + 1, Ordering::Relaxed);
        let memory = Box::leak(vec![0u8; 0x2000].into_boxed_slice());
        // SAFETY: leaked memory, ours for good; never used as a stack (no guard needed).
        Some(unsafe { StackChunk::new(memory.as_mut_ptr() as usize, 0x2000, 0x1000) })
    }

    fn unmap_chunk(&self, _chunk: StackChunk) {
        self.mapped.fetch_sub(1, Ordering::Relaxed);
    }
}
