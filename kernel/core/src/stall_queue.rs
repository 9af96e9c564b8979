//! Stall queues with an owner (seed 002; DESIGN.md "Stall queues with an owner"), and the
//! separate wake-everyone kind for completion events.
//!
//! A `StallQueue` serialises callers of one resource. Waiters queue in FIFO order. Waking the
//! head makes it the queue's *owner*: the resource is reserved for it until it uses it, stalls
//! somewhere else, is halted or leaves the running state; ownership then passes to the next in
//! line, who is woken. When the resource is not ready, ownership goes back to the resource
//! itself (the "interrupt task" of seed 002), and the next `wake_one` hands it on.
//!
//! # Invariants (`check_invariants` verifies them; the simulator calls it after every step)
//! - A waiter is in the queue at most once.
//! - The owner is not also waiting in the queue.
//! - Wake order is queue order: only the head is ever woken, and a newcomer may take the
//!   resource only if nobody owns it and nobody waits (`may_take`), so nobody barges.
//! - An id leaves only by being woken (to become owner) or by `remove`: none is lost.
//!
//! # Assumptions
//! - The caller holds the lock of the object the queue lives in (lock order level 5 in
//!   `sync/mod.rs`) around every call.
//! - Methods return the ids to make ready; the caller moves them to a run queue, after its
//!   commit point. Only `stall`/`wait` can fail, and they run before the commit point.
//! - A process owns at most one queue at a time; the caller records which.

use alloc::collections::vec_deque::{Drain, VecDeque};

/// Who holds the right to use the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner<T> {
    /// Nobody: the resource itself (seed 002's interrupt task) hands it to the next waiter
    /// through `StallQueue::wake_one` when it becomes ready.
    Resource,
    /// This process was woken from the head and the resource is reserved for it.
    Process(T),
}

/// Why a process could not be put on a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StallError {
    /// It is already waiting there (a kernel bug in the caller).
    AlreadyQueued,
    /// No memory to grow the queue: the call fails with an out-of-memory error instead.
    NoMemory,
}

/// A broken queue invariant, as reported by `check_invariants`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueViolation<T> {
    /// This id waits more than once.
    Duplicate(T),
    /// The owner also waits in the queue.
    OwnerQueued(T),
}

/// A FIFO stall queue with an owner.
#[derive(Debug)]
pub struct StallQueue<T> {
    waiters: VecDeque<T>,
    owner: Owner<T>,
}

impl<T: Copy + Eq> Default for StallQueue<T> {
    fn default() -> Self {
        StallQueue::new()
    }
}

impl<T: Copy + Eq> StallQueue<T> {
    /// An empty queue whose resource is owned by nobody.
    pub const fn new() -> StallQueue<T> {
        StallQueue { waiters: VecDeque::new(), owner: Owner::Resource }
    }

    /// The current owner.
    pub fn owner(&self) -> Owner<T> {
        self.owner
    }

    /// The waiters, head first.
    pub fn waiters(&self) -> impl Iterator<Item = T> + '_ {
        self.waiters.iter().copied()
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Whether `id` waits here.
    pub fn contains(&self, id: T) -> bool {
        self.waiters.contains(&id)
    }

    /// Whether `id` may use the resource now (if it is ready): it owns the queue, or nobody
    /// owns it and nobody waits. Otherwise `id` must stall, or it would barge.
    pub fn may_take(&self, id: T) -> bool {
        match self.owner {
            Owner::Process(o) => o == id,
            Owner::Resource => self.waiters.is_empty(),
        }
    }

    /// Puts `id` at the tail. If `id` is the owner and found the resource not ready after all,
    /// it goes back to the head (it was first in line) and ownership returns to the resource.
    pub fn stall(&mut self, id: T) -> Result<(), StallError> {
        if self.waiters.contains(&id) {
            return Err(StallError::AlreadyQueued);
        }
        self.waiters.try_reserve(1).map_err(|_| StallError::NoMemory)?;
        if self.owner == Owner::Process(id) {
            self.owner = Owner::Resource;
            self.waiters.push_front(id);
        } else {
            self.waiters.push_back(id);
        }
        Ok(())
    }

    /// The resource became ready: if nobody owns it, the head (if any) becomes owner and is
    /// returned to be woken. An owned resource stays with its owner.
    pub fn wake_one(&mut self) -> Option<T> {
        match self.owner {
            Owner::Process(_) => None,
            Owner::Resource => self.pass_to_next(),
        }
    }

    /// The owner `id` used the resource. If it is still available, the next waiter becomes
    /// owner and is returned to be woken; otherwise ownership returns to the resource.
    /// A call by a non-owner (one that took a free resource without queueing) changes nothing.
    pub fn used(&mut self, id: T, still_available: bool) -> Option<T> {
        if self.owner != Owner::Process(id) {
            return None;
        }
        if still_available {
            self.pass_to_next()
        } else {
            self.owner = Owner::Resource;
            None
        }
    }

    /// The owner `id` gives ownership back to the resource without using it (it is not ready):
    /// the next `wake_one` hands it on. Returns whether `id` was the owner.
    pub fn give_back(&mut self, id: T) -> bool {
        if self.owner == Owner::Process(id) {
            self.owner = Owner::Resource;
            true
        } else {
            false
        }
    }

    /// `id` leaves this queue: halted or destroyed while waiting, or, if it is the owner,
    /// stalled on another queue, halted or left the running state. An owner's reservation passes
    /// to the next in line, who is returned to be woken.
    pub fn remove(&mut self, id: T) -> Option<T> {
        if self.owner == Owner::Process(id) {
            return self.pass_to_next();
        }
        if let Some(at) = self.waiters.iter().position(|&w| w == id) {
            self.waiters.remove(at);
        }
        None
    }

    /// Checks the invariants in the file header.
    pub fn check_invariants(&self) -> Result<(), QueueViolation<T>> {
        check_unique(&self.waiters)?;
        match self.owner {
            Owner::Process(o) if self.waiters.contains(&o) => Err(QueueViolation::OwnerQueued(o)),
            _ => Ok(()),
        }
    }

    fn pass_to_next(&mut self) -> Option<T> {
        let next = self.waiters.pop_front();
        self.owner = next.map_or(Owner::Resource, Owner::Process);
        next
    }
}

/// A queue whose event wakes every waiter (I/O completion): no owner, no order guarantee beyond
/// FIFO wake-up order. Invariant: a waiter is in it at most once.
#[derive(Debug)]
pub struct WakeAllQueue<T> {
    waiters: VecDeque<T>,
}

impl<T: Copy + Eq> Default for WakeAllQueue<T> {
    fn default() -> Self {
        WakeAllQueue::new()
    }
}

impl<T: Copy + Eq> WakeAllQueue<T> {
    /// An empty queue.
    pub const fn new() -> WakeAllQueue<T> {
        WakeAllQueue { waiters: VecDeque::new() }
    }

    /// Puts `id` at the tail.
    pub fn wait(&mut self, id: T) -> Result<(), StallError> {
        if self.waiters.contains(&id) {
            return Err(StallError::AlreadyQueued);
        }
        self.waiters.try_reserve(1).map_err(|_| StallError::NoMemory)?;
        self.waiters.push_back(id);
        Ok(())
    }

    /// The event happened: every waiter, in arrival order, to be made ready.
    pub fn wake_all(&mut self) -> Drain<'_, T> {
        self.waiters.drain(..)
    }

    /// `id` was halted or destroyed while waiting. Returns whether it was waiting.
    pub fn remove(&mut self, id: T) -> bool {
        match self.waiters.iter().position(|&w| w == id) {
            Some(at) => {
                self.waiters.remove(at);
                true
            }
            None => false,
        }
    }

    /// Whether `id` waits here.
    pub fn contains(&self, id: T) -> bool {
        self.waiters.contains(&id)
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Checks that no waiter is queued twice.
    pub fn check_invariants(&self) -> Result<(), QueueViolation<T>> {
        check_unique(&self.waiters)
    }
}

fn check_unique<T: Copy + Eq>(waiters: &VecDeque<T>) -> Result<(), QueueViolation<T>> {
    for (i, &w) in waiters.iter().enumerate() {
        if waiters.iter().skip(i + 1).any(|&x| x == w) {
            return Err(QueueViolation::Duplicate(w));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_order_is_queue_order_and_the_woken_owns() {
        let mut q = StallQueue::new();
        for id in [1, 2, 3] {
            q.stall(id).unwrap();
        }
        assert!(!q.may_take(9), "a newcomer may not barge past waiters");
        assert_eq!(q.wake_one(), Some(1));
        assert_eq!(q.owner(), Owner::Process(1));
        assert!(q.may_take(1));
        assert!(!q.may_take(2));
        assert_eq!(q.wake_one(), None, "an owned resource stays with its owner");
        assert_eq!(q.used(1, true), Some(2));
        assert_eq!(q.used(2, false), None);
        assert_eq!(q.owner(), Owner::Resource);
        assert_eq!(q.wake_one(), Some(3));
        assert_eq!(q.used(3, true), None);
        assert!(q.may_take(9));
        q.check_invariants().unwrap();
    }

    #[test]
    fn an_owner_that_leaves_passes_ownership_on() {
        let mut q = StallQueue::new();
        q.stall(1).unwrap();
        q.stall(2).unwrap();
        assert_eq!(q.wake_one(), Some(1));
        assert_eq!(q.remove(1), Some(2));
        assert_eq!(q.owner(), Owner::Process(2));
        assert_eq!(q.remove(2), None);
        assert_eq!(q.owner(), Owner::Resource);
    }

    #[test]
    fn a_halted_waiter_vanishes_without_waking_anyone() {
        let mut q = StallQueue::new();
        for id in [1, 2, 3] {
            q.stall(id).unwrap();
        }
        assert_eq!(q.remove(2), None);
        assert_eq!(q.waiters().collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(q.remove(7), None);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn an_owner_that_finds_it_not_ready_goes_back_to_the_head() {
        let mut q = StallQueue::new();
        q.stall(1).unwrap();
        q.stall(2).unwrap();
        assert_eq!(q.wake_one(), Some(1));
        q.stall(1).unwrap();
        assert_eq!(q.owner(), Owner::Resource);
        assert_eq!(q.waiters().collect::<Vec<_>>(), vec![1, 2]);
        q.check_invariants().unwrap();
    }

    #[test]
    fn give_back_returns_ownership_to_the_resource() {
        let mut q = StallQueue::new();
        q.stall(1).unwrap();
        q.stall(2).unwrap();
        q.wake_one();
        assert!(!q.give_back(2));
        assert!(q.give_back(1));
        assert_eq!(q.owner(), Owner::Resource);
        assert_eq!(q.wake_one(), Some(2));
    }

    #[test]
    fn refuses_a_second_stall_of_the_same_waiter() {
        let mut q = StallQueue::new();
        q.stall(1).unwrap();
        assert_eq!(q.stall(1), Err(StallError::AlreadyQueued));
        let mut w = WakeAllQueue::new();
        w.wait(1).unwrap();
        assert_eq!(w.wait(1), Err(StallError::AlreadyQueued));
    }

    #[test]
    fn used_by_a_non_owner_changes_nothing() {
        let mut q = StallQueue::new();
        q.stall(1).unwrap();
        assert_eq!(q.used(5, true), None);
        assert_eq!(q.owner(), Owner::Resource);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn check_invariants_catches_a_broken_queue() {
        let q = StallQueue { waiters: VecDeque::from([1, 2, 1]), owner: Owner::Resource };
        assert_eq!(q.check_invariants(), Err(QueueViolation::Duplicate(1)));
        let q = StallQueue { waiters: VecDeque::from([3]), owner: Owner::Process(3) };
        assert_eq!(q.check_invariants(), Err(QueueViolation::OwnerQueued(3)));
        let w = WakeAllQueue { waiters: VecDeque::from([4, 4]) };
        assert_eq!(w.check_invariants(), Err(QueueViolation::Duplicate(4)));
    }

    #[test]
    fn wake_all_wakes_everyone_in_order() {
        let mut w = WakeAllQueue::new();
        for id in [3, 1, 2] {
            w.wait(id).unwrap();
        }
        assert!(w.remove(1));
        assert!(!w.remove(1));
        assert_eq!(w.wake_all().collect::<Vec<_>>(), vec![3, 2]);
        assert!(w.is_empty());
    }
}
