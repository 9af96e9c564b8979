//! A VP's alarm queue (seed 000 section 3.3: the listener "monitors the per-processor alarm
//! queue, and dispatches expired alarms"): chores sleeping until a deadline, earliest first.
//! The listener wakes the expired ones; an idle VP asks the kernel to wake it at the earliest
//! (`Idle::idle`'s deadline: in ring 3, a kernel Alarm object POSTing the VP's endpoint).
//!
//! Guarantees: a sleeper is woken once, never before its deadline on the runtime's clock;
//! sleepers with the same deadline wake in the order they slept.

use alloc::collections::BinaryHeap;
use core::cmp::Ordering as Cmp;

use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::sync::{RawSpin, RawSpinGuard};
use crate::wait::Waker;

struct Sleeper {
    deadline: u64,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Sleeper {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Cmp::Equal
    }
}
impl Eq for Sleeper {}
impl PartialOrd for Sleeper {
    fn partial_cmp(&self, other: &Self) -> Option<Cmp> {
        Some(self.cmp(other))
    }
}
impl Ord for Sleeper {
    /// Reversed, so the max-heap's top is the earliest deadline (then the oldest sleeper).
    fn cmp(&self, other: &Self) -> Cmp {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

pub(crate) struct Sleepers {
    heap: BinaryHeap<Sleeper>,
    seq: u64,
}

impl Sleepers {
    pub(crate) fn push(&mut self, deadline: u64, waker: Waker) {
        self.seq += 1;
        let seq = self.seq;
        self.heap.push(Sleeper {
            deadline,
            seq,
            waker,
        });
    }
}

pub(crate) struct AlarmQueue {
    /// Protects the sleeping chores' records.
    sleepers: RawSpin<Sleepers>,
    /// How many sleep, so a VP with none reads no clock.
    count: AtomicUsize,
    /// The earliest deadline, written under the lock and read without it: a sleeper parks
    /// holding the lock while its VP's switch asks whether an alarm is due.
    earliest: AtomicU64,
}

impl AlarmQueue {
    pub(crate) fn new() -> AlarmQueue {
        AlarmQueue {
            sleepers: RawSpin::new(Sleepers {
                heap: BinaryHeap::new(),
                seq: 0,
            }),
            count: AtomicUsize::new(0),
            earliest: AtomicU64::new(u64::MAX),
        }
    }

    /// The queue's lock, under which a chore records itself and parks.
    pub(crate) fn lock(&self) -> RawSpinGuard<'_, Sleepers> {
        self.sleepers.lock()
    }

    /// Counts the sleeper just pushed onto `sleepers` (still locked by the caller).
    pub(crate) fn added(&self, sleepers: &Sleepers) {
        self.count.fetch_add(1, Ordering::AcqRel);
        let first = sleepers.heap.peek().map_or(u64::MAX, |s| s.deadline);
        self.earliest.store(first, Ordering::Release);
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    /// The earliest deadline, if any chore sleeps.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        Some(self.earliest.load(Ordering::Acquire)).filter(|&d| d != u64::MAX)
    }

    /// Whether a sleeper's deadline has passed at `now`.
    pub(crate) fn due(&self, now: u64) -> bool {
        self.next_deadline().is_some_and(|d| d <= now)
    }

    /// Wakes every sleeper whose deadline is at or before `now`, earliest first; how many.
    pub(crate) fn expire(&self, now: u64) -> usize {
        let mut woken = 0;
        loop {
            let next = {
                let mut s = self.sleepers.lock();
                let popped = match s.heap.peek() {
                    Some(top) if top.deadline <= now => s.heap.pop(),
                    _ => None,
                };
                let first = s.heap.peek().map_or(u64::MAX, |s| s.deadline);
                self.earliest.store(first, Ordering::Release);
                popped
            };
            let Some(sleeper) = next else { return woken };
            self.count.fetch_sub(1, Ordering::AcqRel);
            sleeper.waker.wake();
            woken += 1;
        }
    }
}
