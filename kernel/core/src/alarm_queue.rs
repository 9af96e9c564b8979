//! A CPU's alarm queue: the armed alarms waiting on this CPU, nearest deadline first (seed 000:
//! "the per-processor alarm queue"; the kernel's exit path is its listener).
//!
//! # Invariants (`AlarmQueue::check_invariants` verifies them)
//! - A binary min-heap of alarm table indices ordered by (deadline, stamp): the stamp is the
//!   arming's kernel-wide arrival stamp, so alarms with one deadline fire in arming order.
//! - `pos[i]` is the heap position of alarm `i`, or `NIL` when it is not queued here; each
//!   alarm is queued at most once.
//! - Storage is allocated once, at creation, for every alarm table slot: `set` and `remove`
//!   never allocate, so the alarm orders and the exit path may use them after their commit
//!   point.
//!
//! # Assumptions
//! - The caller serialises access (a leaf lock, `cpu.rs`), and changes an alarm's entry only
//!   while it holds that alarm's object lock, so the entry always describes its armed alarm.

use alloc::vec::Vec;

const NIL: u32 = u32::MAX;

/// A broken alarm-queue invariant, as found by `check_invariants`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmQueueViolation {
    /// The heap order is broken at this position.
    Order(usize),
    /// `pos` and the heap disagree about this alarm.
    Position(u32),
}

/// One CPU's armed alarms.
#[derive(Debug)]
pub struct AlarmQueue {
    heap: Vec<u32>,
    pos: Vec<u32>,
    keys: Vec<(u64, u64)>,
}

impl AlarmQueue {
    /// An empty queue for the alarm table slots below `capacity` (below `u32::MAX`).
    pub fn new(capacity: usize) -> AlarmQueue {
        assert!(
            capacity < NIL as usize,
            "alarm queue capacity beyond u32 slots"
        );
        AlarmQueue {
            heap: Vec::with_capacity(capacity),
            pos: (0..capacity).map(|_| NIL).collect(),
            keys: (0..capacity).map(|_| (0, 0)).collect(),
        }
    }

    /// How many alarms are queued.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The alarm with the nearest deadline, and that deadline.
    pub fn first(&self) -> Option<(u32, u64)> {
        let &i = self.heap.first()?;
        Some((i, self.keys[i as usize].0))
    }

    /// The deadline alarm `index` is queued with, if it is queued here.
    pub fn deadline_of(&self, index: u32) -> Option<u64> {
        let i = index as usize;
        (*self.pos.get(i)? != NIL).then(|| self.keys[i].0)
    }

    /// Queues alarm `index` for `deadline` (arrival stamp `stamp`), or moves it there if it is
    /// queued already. False if the index is beyond the capacity (nothing changes).
    pub fn set(&mut self, index: u32, deadline: u64, stamp: u64) -> bool {
        let i = index as usize;
        let Some(&p) = self.pos.get(i) else {
            return false;
        };
        self.keys[i] = (deadline, stamp);
        let at = if p == NIL {
            // Within the capacity reserved at creation: no allocation.
            self.heap.push(index);
            self.heap.len() - 1
        } else {
            p as usize
        };
        self.pos[i] = at as u32;
        let at = self.sift_up(at);
        self.sift_down(at);
        true
    }

    /// Takes alarm `index` out; false if it was not queued here.
    pub fn remove(&mut self, index: u32) -> bool {
        let i = index as usize;
        let Some(&p) = self.pos.get(i) else {
            return false;
        };
        if p == NIL {
            return false;
        }
        let at = p as usize;
        let last = self.heap.len() - 1;
        self.swap(at, last);
        self.heap.pop();
        self.pos[i] = NIL;
        if at < self.heap.len() {
            let at = self.sift_up(at);
            self.sift_down(at);
        }
        true
    }

    /// Checks the invariants in the file header.
    pub fn check_invariants(&self) -> Result<(), AlarmQueueViolation> {
        for (at, &i) in self.heap.iter().enumerate() {
            if self.pos.get(i as usize) != Some(&(at as u32)) {
                return Err(AlarmQueueViolation::Position(i));
            }
            if at > 0 && self.key(at) < self.key((at - 1) / 2) {
                return Err(AlarmQueueViolation::Order(at));
            }
        }
        let queued = self.pos.iter().filter(|&&p| p != NIL).count();
        if queued != self.heap.len() {
            let stray = self
                .pos
                .iter()
                .position(|&p| p != NIL && self.heap.get(p as usize).is_none());
            return Err(AlarmQueueViolation::Position(stray.unwrap_or(0) as u32));
        }
        Ok(())
    }

    fn key(&self, at: usize) -> (u64, u64) {
        self.keys[self.heap[at] as usize]
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a] as usize] = a as u32;
        self.pos[self.heap[b] as usize] = b as u32;
    }

    fn sift_up(&mut self, mut at: usize) -> usize {
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.key(at) >= self.key(parent) {
                break;
            }
            self.swap(at, parent);
            at = parent;
        }
        at
    }

    fn sift_down(&mut self, mut at: usize) -> usize {
        loop {
            let (l, r) = (2 * at + 1, 2 * at + 2);
            let mut least = at;
            if l < self.heap.len() && self.key(l) < self.key(least) {
                least = l;
            }
            if r < self.heap.len() && self.key(r) < self.key(least) {
                least = r;
            }
            if least == at {
                return at;
            }
            self.swap(at, least);
            at = least;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_deadline_first_and_arming_order_among_equals() {
        let mut q = AlarmQueue::new(8);
        assert!(q.set(3, 50, 1));
        assert!(q.set(1, 20, 2));
        assert!(q.set(5, 50, 0));
        assert!(q.set(2, 90, 3));
        q.check_invariants().unwrap();
        let mut order = Vec::new();
        while let Some((i, d)) = q.first() {
            order.push((i, d));
            assert!(q.remove(i));
            q.check_invariants().unwrap();
        }
        assert_eq!(order, vec![(1, 20), (5, 50), (3, 50), (2, 90)]);
        assert!(q.is_empty());
    }

    #[test]
    fn re_arming_moves_an_alarm_and_remove_is_exact() {
        let mut q = AlarmQueue::new(4);
        q.set(0, 10, 0);
        q.set(1, 20, 1);
        q.set(0, 30, 2);
        assert_eq!(q.len(), 2);
        assert_eq!(q.first(), Some((1, 20)));
        assert_eq!(q.deadline_of(0), Some(30));
        assert!(q.remove(1));
        assert!(!q.remove(1), "removed once");
        assert_eq!(q.first(), Some((0, 30)));
        assert!(!q.set(4, 1, 0), "beyond the capacity");
        assert_eq!(q.deadline_of(4), None);
        q.check_invariants().unwrap();
    }
}
