//! Per-CPU run queues: fixed priority levels, round-robin inside a level, O(1) everything.
//!
//! # Invariants (`RunQueue::check_invariants` verifies them)
//! - Bit `p` of the bitmap is set exactly when level `p` is non-empty, so `pick` finds the
//!   highest non-empty level with one leading-zeros count.
//! - Each id is queued at most once, at one level; the levels' doubly linked lists run through
//!   one node per slot, so enqueue, pick and remove never allocate and never search. That is
//!   why waking (after the commit point, where nothing may allocate) can use them.
//! - `len` is the number of queued ids.
//! - Bit `p` of `stealable` is set exactly when level `p` holds an id that is not pinned to
//!   this CPU (`unpinned[p]` counts them), so another CPU finds the level to steal from with one
//!   count too; within it, it walks past pinned ids to the first it may take.
//! - `reserved` counts the queued ids marked as owners of a stall queue (`reserve`), each with
//!   the tick it was marked at; leaving the queue drops the mark. The marks are walked only
//!   while some are set (`take_reservation_older_than`), so an ordinary queue pays nothing.
//!
//! # Assumptions
//! - Ids map to distinct slots below the capacity fixed at creation (`Into<usize>`: a process
//!   table index). An id out of range or already queued is a caller bug, reported as an error.
//! - Each CPU owns one `RunQueue`; the caller serialises access (lock order level 7).

use alloc::vec::Vec;

/// How many priority levels there are; the only place this number is written.
pub const PRIORITY_LEVELS: usize = 32;

// The non-empty-level bitmap is one u32.
const _: () = assert!(PRIORITY_LEVELS <= u32::BITS as usize);

/// The default time slice, in timer ticks.
pub const DEFAULT_QUANTUM_TICKS: u32 = 10;

/// A scheduling priority: higher runs first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(u8);

impl Priority {
    /// The lowest priority (the idle level).
    pub const LOWEST: Priority = Priority(0);
    /// The highest priority.
    pub const HIGHEST: Priority = Priority(PRIORITY_LEVELS as u8 - 1);

    /// The priority `p`, or `None` if it is not a level (user input must be refused this way).
    pub const fn new(p: u8) -> Option<Priority> {
        if (p as usize) < PRIORITY_LEVELS {
            Some(Priority(p))
        } else {
            None
        }
    }

    /// The level number.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The highest level whose bit is set in `levels` (bit n: level n), if any.
    #[inline]
    pub const fn highest_of(levels: u32) -> Option<Priority> {
        if levels == 0 {
            None
        } else {
            Some(Priority((u32::BITS - 1 - levels.leading_zeros()) as u8))
        }
    }
}

/// Where a process joins its level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// Behind everyone at its level: woken, or its quantum expired.
    Tail,
    /// In front: preempted before its quantum ended, it resumes first.
    Head,
}

/// Why an enqueue was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunQueueError {
    /// The id's slot is beyond the capacity given at creation.
    SlotOutOfRange,
    /// The id is already queued.
    AlreadyQueued,
}

/// A broken run-queue invariant, as found by `check_invariants`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunQueueViolation {
    /// The bitmap disagrees with the levels about this level.
    Bitmap(u8),
    /// The links of this level are inconsistent.
    Links(u8),
    /// The count of queued ids is wrong.
    Length,
    /// The stealable bitmap or the unpinned count disagrees with this level.
    Stealable(u8),
    /// The count of owners' marks is wrong.
    Reserved,
}

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Node<T> {
    id: T,
    level: u8,
    pinned: bool,
    prev: u32,
    next: u32,
}

const NO_RESERVATION: u64 = u64::MAX;

#[derive(Clone, Copy, Debug)]
struct Level {
    head: u32,
    tail: u32,
}

/// One CPU's ready processes.
#[derive(Debug)]
pub struct RunQueue<T> {
    nodes: Vec<Option<Node<T>>>,
    levels: [Level; PRIORITY_LEVELS],
    bitmap: u32,
    stealable: u32,
    unpinned: [u32; PRIORITY_LEVELS],
    reserved: u32,
    /// By slot: the tick its id was marked as a queue owner at (`reserve`), or
    /// `NO_RESERVATION`. Kept apart from the nodes, so that enqueue and pick, which never see
    /// a mark while `reserved` is 0, do not pay for it.
    marks: Vec<u64>,
    /// Levels at which this CPU has post activities ready (`post_run.rs`, their own queue):
    /// `highest` counts them, so whoever asks what is ready here (the fast path's bar,
    /// preemption) sees them; `pick` does not, as they are not in this queue.
    post_levels: u32,
    len: usize,
}

impl<T: Copy + Eq + Into<usize>> RunQueue<T> {
    /// An empty queue for ids whose slots are below `capacity` (at most `u32::MAX`); the only
    /// allocation it ever makes.
    pub fn new(capacity: usize) -> RunQueue<T> {
        assert!(
            capacity < NIL as usize,
            "run queue capacity beyond u32 slots"
        );
        RunQueue {
            nodes: (0..capacity).map(|_| None).collect(),
            levels: [Level {
                head: NIL,
                tail: NIL,
            }; PRIORITY_LEVELS],
            bitmap: 0,
            stealable: 0,
            unpinned: [0; PRIORITY_LEVELS],
            reserved: 0,
            marks: alloc::vec![NO_RESERVATION; capacity],
            post_levels: 0,
            len: 0,
        }
    }

    /// How many are queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The priority `id` is queued at, if it is queued.
    pub fn priority_of(&self, id: T) -> Option<Priority> {
        self.node(id.into()).map(|n| Priority(n.level))
    }

    /// The highest priority with someone ready here: a queued id or a post activity.
    pub fn highest(&self) -> Option<Priority> {
        Priority::highest_of(self.bitmap | self.post_levels)
    }

    /// The highest priority with an id queued (what `pick` would take).
    pub fn highest_queued(&self) -> Option<Priority> {
        Priority::highest_of(self.bitmap)
    }

    /// The levels with an id queued, one bit each (`Priority::highest_of` reads them).
    pub fn levels(&self) -> u32 {
        self.bitmap
    }

    /// The levels with someone ready here, an id or a post activity, one bit each: what
    /// `highest` reads.
    pub fn ready_levels(&self) -> u32 {
        self.bitmap | self.post_levels
    }

    /// The levels at which post activities are ready on this queue's CPU (their queue's
    /// `levels`), for `highest`.
    pub fn set_post_levels(&mut self, levels: u32) {
        self.post_levels = levels;
    }

    /// What `set_post_levels` last set.
    pub fn post_levels(&self) -> u32 {
        self.post_levels
    }

    /// The highest priority with someone another CPU may take (see `steal`).
    pub fn highest_stealable(&self) -> Option<Priority> {
        Priority::highest_of(self.stealable)
    }

    /// Whether a queued process should preempt one running at `running`: strictly higher only,
    /// so equals take turns at quantum ends rather than on every wake-up.
    pub fn should_preempt(&self, running: Priority) -> bool {
        self.highest().is_some_and(|p| p > running)
    }

    /// Queues `id` at `prio`, at the tail or the head of its level; other CPUs may steal it.
    pub fn enqueue(&mut self, id: T, prio: Priority, at: Position) -> Result<(), RunQueueError> {
        self.enqueue_pinned(id, prio, at, false)
    }

    /// `enqueue`; a `pinned` id runs only on this queue's CPU: `steal` passes it by.
    pub fn enqueue_pinned(
        &mut self,
        id: T,
        prio: Priority,
        at: Position,
        pinned: bool,
    ) -> Result<(), RunQueueError> {
        let slot = id.into();
        match self.nodes.get(slot) {
            None => return Err(RunQueueError::SlotOutOfRange),
            Some(Some(_)) => return Err(RunQueueError::AlreadyQueued),
            Some(None) => {}
        }
        // Fits: `new` keeps every slot below NIL.
        let s = slot as u32;
        let lv = &mut self.levels[prio.0 as usize];
        let (prev, next) = match at {
            Position::Tail => (lv.tail, NIL),
            Position::Head => (NIL, lv.head),
        };
        match at {
            Position::Tail => lv.tail = s,
            Position::Head => lv.head = s,
        }
        if lv.head == NIL {
            lv.head = s;
        }
        if lv.tail == NIL {
            lv.tail = s;
        }
        self.nodes[slot] = Some(Node {
            id,
            level: prio.0,
            pinned,
            prev,
            next,
        });
        if !pinned {
            self.unpinned[prio.0 as usize] += 1;
            self.stealable |= 1 << prio.0;
        }
        if let Some(p) = self.node_mut(prev) {
            p.next = s;
        }
        if let Some(n) = self.node_mut(next) {
            n.prev = s;
        }
        self.bitmap |= 1 << prio.0;
        self.len += 1;
        Ok(())
    }

    /// The head of the highest non-empty level: what `pick` would take, left in place.
    pub fn head(&self) -> Option<(T, Priority)> {
        let prio = self.highest_queued()?;
        let head = self.levels[prio.0 as usize].head;
        self.node(head as usize).map(|n| (n.id, prio))
    }

    /// Takes the head of the highest non-empty level.
    pub fn pick(&mut self) -> Option<(T, Priority)> {
        let prio = self.highest_queued()?;
        let head = self.levels[prio.0 as usize].head;
        let node = self.unlink(head as usize)?;
        Some((node.id, prio))
    }

    /// What another CPU may take: the first id not pinned here at the highest level that has
    /// one. Walks past the pinned ids queued ahead of it.
    pub fn steal(&mut self) -> Option<(T, Priority)> {
        if self.stealable == 0 {
            return None;
        }
        let prio = Priority((u32::BITS - 1 - self.stealable.leading_zeros()) as u8);
        let mut at = self.levels[prio.0 as usize].head;
        while let Some(n) = self.node(at as usize) {
            if !n.pinned {
                let node = self.unlink(at as usize)?;
                return Some((node.id, prio));
            }
            at = n.next;
        }
        None
    }

    /// Takes `id` out wherever it is (halted, destroyed, or moved to another CPU).
    pub fn remove(&mut self, id: T) -> Option<Priority> {
        self.unlink(id.into()).map(|n| Priority(n.level))
    }

    /// Marks the queued `id` as the owner of a stall queue since tick `now` (seed 002: its
    /// reservation is bounded, see `dispatch.rs`). False if `id` is not queued here.
    pub fn reserve(&mut self, id: T, now: u64) -> bool {
        let slot = id.into();
        if self.node(slot).is_none() {
            return false;
        }
        if self.marks[slot] == NO_RESERVATION {
            self.reserved += 1;
        }
        self.marks[slot] = now;
        true
    }

    /// The tick of the oldest owner's mark, if any id here is marked.
    pub fn oldest_reservation(&self) -> Option<u64> {
        self.marked().map(|(_, at)| at).min()
    }

    /// Drops the mark of an owner marked before tick `before` and returns it (it stays queued).
    pub fn take_reservation_older_than(&mut self, before: u64) -> Option<T> {
        let (slot, _) = self.marked().find(|&(_, at)| at < before)?;
        self.marks[slot] = NO_RESERVATION;
        self.reserved -= 1;
        self.node(slot).map(|n| n.id)
    }

    /// The marked nodes' slots and marks, walking only until every mark is seen.
    fn marked(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let mut left = self.reserved;
        let mut slots = self.marks.iter().enumerate();
        core::iter::from_fn(move || {
            while left > 0 {
                let (slot, &at) = slots.next()?;
                if at != NO_RESERVATION {
                    left -= 1;
                    return Some((slot, at));
                }
            }
            None
        })
    }

    /// Checks the invariants in the file header.
    pub fn check_invariants(&self) -> Result<(), RunQueueViolation> {
        let mut seen = 0;
        for (p, lv) in self.levels.iter().enumerate() {
            let level = p as u8;
            if (lv.head == NIL) == (self.bitmap & (1 << p) != 0) {
                return Err(RunQueueViolation::Bitmap(level));
            }
            let (mut prev, mut at) = (NIL, lv.head);
            while at != NIL {
                let n = self
                    .node(at as usize)
                    .ok_or(RunQueueViolation::Links(level))?;
                if n.prev != prev || n.level != level || seen >= self.len {
                    return Err(RunQueueViolation::Links(level));
                }
                seen += 1;
                (prev, at) = (at, n.next);
            }
            if lv.tail != prev {
                return Err(RunQueueViolation::Links(level));
            }
        }
        let queued = self.nodes.iter().flatten().count();
        if seen != self.len || queued != self.len {
            return Err(RunQueueViolation::Length);
        }
        let marked = self
            .marks
            .iter()
            .filter(|&&at| at != NO_RESERVATION)
            .count();
        let strays = self
            .marks
            .iter()
            .enumerate()
            .any(|(slot, &at)| at != NO_RESERVATION && self.node(slot).is_none());
        if marked != self.reserved as usize || strays {
            return Err(RunQueueViolation::Reserved);
        }
        for (p, &count) in self.unpinned.iter().enumerate() {
            let level = p as u8;
            let real = self
                .nodes
                .iter()
                .flatten()
                .filter(|n| n.level == level && !n.pinned)
                .count();
            if real != count as usize || (count != 0) != (self.stealable & (1 << p) != 0) {
                return Err(RunQueueViolation::Stealable(level));
            }
        }
        Ok(())
    }

    fn node(&self, slot: usize) -> Option<&Node<T>> {
        self.nodes.get(slot).and_then(Option::as_ref)
    }

    fn node_mut(&mut self, slot: u32) -> Option<&mut Node<T>> {
        self.nodes.get_mut(slot as usize).and_then(Option::as_mut)
    }

    fn unlink(&mut self, slot: usize) -> Option<Node<T>> {
        let node = self.nodes.get_mut(slot)?.take()?;
        match self.node_mut(node.prev) {
            Some(p) => p.next = node.next,
            None => self.levels[node.level as usize].head = node.next,
        }
        match self.node_mut(node.next) {
            Some(n) => n.prev = node.prev,
            None => self.levels[node.level as usize].tail = node.prev,
        }
        if self.levels[node.level as usize].head == NIL {
            self.bitmap &= !(1 << node.level);
        }
        if self.reserved != 0 && self.marks[slot] != NO_RESERVATION {
            self.marks[slot] = NO_RESERVATION;
            self.reserved -= 1;
        }
        if !node.pinned {
            let left = &mut self.unpinned[node.level as usize];
            *left -= 1;
            if *left == 0 {
                self.stealable &= !(1 << node.level);
            }
        }
        self.len -= 1;
        Some(node)
    }
}

/// A running process's remaining time slice, counted in timer ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantum {
    remaining: u32,
}

impl Default for Quantum {
    fn default() -> Self {
        Quantum::new(DEFAULT_QUANTUM_TICKS)
    }
}

impl Quantum {
    /// A fresh slice of `ticks` ticks.
    pub const fn new(ticks: u32) -> Quantum {
        Quantum { remaining: ticks }
    }

    /// One timer tick; returns true when the slice has just run out or already had.
    pub fn tick(&mut self) -> bool {
        self.remaining = self.remaining.saturating_sub(1);
        self.remaining == 0
    }

    /// Ticks left: kept across a preemption, so the process resumes with what it had.
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    /// Whether the slice is used up.
    pub fn is_expired(&self) -> bool {
        self.remaining == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u8) -> Priority {
        Priority::new(n).unwrap()
    }

    #[test]
    fn refuses_priorities_out_of_range() {
        assert_eq!(Priority::new(PRIORITY_LEVELS as u8), None);
        assert_eq!(Priority::new(u8::MAX), None);
        assert_eq!(Priority::new(31), Some(Priority::HIGHEST));
    }

    #[test]
    fn highest_first_fifo_within_a_level() {
        let mut q: RunQueue<usize> = RunQueue::new(8);
        q.enqueue(1, p(3), Position::Tail).unwrap();
        q.enqueue(2, p(7), Position::Tail).unwrap();
        q.enqueue(3, p(3), Position::Tail).unwrap();
        q.enqueue(4, p(7), Position::Tail).unwrap();
        q.check_invariants().unwrap();
        let order: Vec<usize> = core::iter::from_fn(|| q.pick().map(|(id, _)| id)).collect();
        assert_eq!(order, vec![2, 4, 1, 3]);
        assert!(q.is_empty());
        q.check_invariants().unwrap();
    }

    #[test]
    fn a_preempted_process_goes_back_to_the_head() {
        let mut q: RunQueue<usize> = RunQueue::new(8);
        q.enqueue(1, p(5), Position::Tail).unwrap();
        q.enqueue(2, p(5), Position::Head).unwrap();
        assert_eq!(q.pick(), Some((2, p(5))));
    }

    #[test]
    fn remove_from_the_middle_keeps_the_rest_linked() {
        let mut q: RunQueue<usize> = RunQueue::new(8);
        for id in [1, 2, 3] {
            q.enqueue(id, p(4), Position::Tail).unwrap();
        }
        assert_eq!(q.remove(2), Some(p(4)));
        assert_eq!(q.remove(2), None);
        q.check_invariants().unwrap();
        assert_eq!(q.pick(), Some((1, p(4))));
        assert_eq!(q.remove(3), Some(p(4)));
        assert_eq!(q.highest(), None);
        q.check_invariants().unwrap();
    }

    #[test]
    fn refuses_duplicates_and_out_of_range_slots() {
        let mut q: RunQueue<usize> = RunQueue::new(2);
        q.enqueue(1, p(0), Position::Tail).unwrap();
        assert_eq!(
            q.enqueue(1, p(9), Position::Tail),
            Err(RunQueueError::AlreadyQueued)
        );
        assert_eq!(
            q.enqueue(2, p(0), Position::Tail),
            Err(RunQueueError::SlotOutOfRange)
        );
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn only_a_strictly_higher_priority_preempts() {
        let mut q: RunQueue<usize> = RunQueue::new(4);
        assert!(!q.should_preempt(Priority::LOWEST));
        q.enqueue(0, p(10), Position::Tail).unwrap();
        assert!(q.should_preempt(p(9)));
        assert!(!q.should_preempt(p(10)));
    }

    #[test]
    fn check_invariants_catches_a_stale_bitmap() {
        let mut q: RunQueue<usize> = RunQueue::new(4);
        q.enqueue(0, p(2), Position::Tail).unwrap();
        q.bitmap |= 1 << 5;
        assert_eq!(q.check_invariants(), Err(RunQueueViolation::Bitmap(5)));
    }

    #[test]
    fn steal_passes_pinned_ids_by() {
        let mut q: RunQueue<usize> = RunQueue::new(8);
        q.enqueue_pinned(1, p(9), Position::Tail, true).unwrap();
        q.enqueue_pinned(2, p(4), Position::Tail, true).unwrap();
        q.enqueue(3, p(4), Position::Tail).unwrap();
        q.enqueue_pinned(4, p(4), Position::Head, true).unwrap();
        q.check_invariants().unwrap();
        assert_eq!(
            q.steal(),
            Some((3, p(4))),
            "the best unpinned, behind pinned ones"
        );
        assert_eq!(q.steal(), None, "only pinned ones are left");
        q.check_invariants().unwrap();
        assert_eq!(q.pick(), Some((1, p(9))), "its own CPU takes pinned ones");
        assert_eq!(q.remove(4), Some(p(4)));
        q.check_invariants().unwrap();
    }

    #[test]
    fn an_owners_mark_is_taken_once_and_leaves_with_it() {
        let mut q: RunQueue<usize> = RunQueue::new(8);
        for id in [1, 2, 3] {
            q.enqueue(id, p(4), Position::Tail).unwrap();
        }
        assert!(q.reserve(2, 10));
        assert!(q.reserve(3, 20));
        assert!(!q.reserve(5, 1), "5 is not queued");
        q.check_invariants().unwrap();
        assert_eq!(q.oldest_reservation(), Some(10));
        assert_eq!(q.take_reservation_older_than(10), None);
        assert_eq!(q.take_reservation_older_than(11), Some(2));
        assert_eq!(q.take_reservation_older_than(11), None, "taken once");
        assert_eq!(q.priority_of(2), Some(p(4)), "it stays queued");
        assert_eq!(q.remove(3), Some(p(4)));
        assert_eq!(q.oldest_reservation(), None, "the mark left with 3");
        q.check_invariants().unwrap();
        q.reserved = 1;
        assert_eq!(q.check_invariants(), Err(RunQueueViolation::Reserved));
    }

    #[test]
    fn quantum_expires_after_its_ticks() {
        let mut t = Quantum::new(2);
        assert!(!t.tick());
        assert_eq!(t.remaining(), 1);
        assert!(t.tick());
        assert!(t.is_expired());
        assert!(t.tick(), "stays expired");
    }
}
