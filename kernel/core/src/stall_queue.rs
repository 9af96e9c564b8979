//! Stall queues with an owner (seed 002; DESIGN.md "Stall queues with an owner"), and the
//! wake-all kind for completion events.
//!
//! A `StallQueue` serialises callers of one resource. Waiters queue in FIFO order. Waking the
//! head makes it the queue's *owner*: the resource is reserved for it until it uses it, stalls
//! somewhere else, is halted or leaves the running state, or has waited a full quantum for a
//! CPU (seed 002's quantum expiry, as refined in `dispatch.rs`, "Reservations"); ownership then
//! passes to the next in line, who is woken. When the resource is not ready, ownership goes back to the resource
//! itself (the "interrupt task" of seed 002), and the next `wake_one` hands it on.
//!
//! The queues are intrusive: a waiter waits on at most one queue at a time, so each waiter has
//! one node of its own in `StallNodes`, made when the kernel's tables are made, and a queue is
//! just a head, a tail and a count. Stalling, waking and removing never allocate and never
//! search, and the memory a waiter can occupy in any queue is its node, paid for with the
//! waiter (a process's bank unit covers its node as it covers its table slot; a post activity's
//! node is part of its sender's allotment).
//!
//! # Invariants (`check_invariants` verifies them; the simulator calls it after every step)
//! - A node is in at most one queue, recorded in its `queue` field; a queue's list runs
//!   through exactly the nodes that record it, `len` of them, linked both ways.
//! - The owner is not also waiting in the queue.
//! - Wake order is queue order: only the head is ever woken, and a newcomer may take the
//!   resource only if nobody owns it and nobody waits (`may_take`), so nobody barges.
//! - An id leaves only by being woken (to become owner) or by `remove`: none is lost.
//!
//! # Assumptions
//! - The caller holds the lock of the object the queue lives in (lock order level 5 in
//!   `sync/mod.rs`) around every call. A node is touched only under the lock of the queue it is
//!   in, or, while it is in none, by the one path that puts its waiter in a queue (a process
//!   stalls itself; a post activity is queued by the path that took it). The locks order every
//!   access, so the nodes' atomics need no ordering of their own.
//! - Each queue's `key` is unique among the queues sharing one `StallNodes`.
//! - Methods return the ids to make ready; the caller moves them to a run queue, after its
//!   commit point. Only `stall` can fail, and it runs before the commit point.
//! - A process owns at most one queue at a time; the caller records which.

use alloc::boxed::Box;

use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Who holds the right to use the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner<T> {
    /// Nobody: the resource itself (seed 002's interrupt task) hands it to the next waiter
    /// through `StallQueue::wake_one` when it becomes ready.
    Resource,
    /// This process was woken from the head and the resource is reserved for it.
    Process(T),
}

/// Why a waiter could not be put on a queue. Both are kernel bugs in the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StallError {
    /// It already waits on a queue.
    AlreadyQueued,
    /// It has no node: its index is beyond what the nodes were made for.
    NoNode,
}

/// A broken queue invariant, as reported by `check_invariants`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueViolation<T> {
    /// The list is broken: a node that does not record this queue, a wrong back link, a
    /// cycle, or a count that disagrees.
    Links,
    /// The owner also waits in the queue.
    OwnerQueued(T),
}

/// How a waiter is named by the node it owns: its index among the nodes, and the rest of its
/// name, which the node keeps so that the queue can hand back the whole waiter.
pub trait Waits: Copy + Eq {
    /// The index of its node. `split` is the `split` the nodes were made with, for names of
    /// two kinds that share one set of nodes (the first kind below it, the second from it).
    fn node(self, split: usize) -> usize;
    /// What the node keeps besides its index.
    fn pack(self) -> (u32, u64);
    /// The waiter whose node is `node` and keeps `tag` and `word`.
    fn unpack(node: usize, split: usize, tag: u32, word: u64) -> Self;
}

/// A plain index names its own node (models and tests).
impl Waits for u32 {
    fn node(self, _split: usize) -> usize {
        self as usize
    }
    fn pack(self) -> (u32, u64) {
        (0, 0)
    }
    fn unpack(node: usize, _split: usize, _tag: u32, _word: u64) -> u32 {
        node as u32
    }
}

const NIL: u32 = u32::MAX;
/// The `queue` of a node in no queue.
const NO_QUEUE: u32 = u32::MAX;

/// One waiter's place in a queue.
#[derive(Debug)]
struct Node {
    queue: AtomicU32,
    prev: AtomicU32,
    next: AtomicU32,
    tag: AtomicU32,
    word: AtomicU64,
}

/// The nodes of every waiter that can stall, made once; queues link through them.
#[derive(Debug)]
pub struct StallNodes {
    nodes: Box<[Node]>,
    split: usize,
}

// The node fields are read and written only under the lock of the queue they are in (file
// assumptions); `Relaxed` is enough because that lock orders every access.
const R: Ordering = Ordering::Relaxed;

impl StallNodes {
    /// `count` nodes, the names of the second kind starting at `split` (see `Waits::node`).
    pub fn new(count: usize, split: usize) -> StallNodes {
        assert!(count < NIL as usize, "stall nodes beyond u32 indices");
        let nodes = (0..count)
            .map(|_| Node {
                queue: AtomicU32::new(NO_QUEUE),
                prev: AtomicU32::new(NIL),
                next: AtomicU32::new(NIL),
                tag: AtomicU32::new(0),
                word: AtomicU64::new(0),
            })
            .collect();
        StallNodes { nodes, split }
    }

    /// How many nodes are in some queue (for invariant checks: every one must be in a live
    /// queue, or a waiter has leaked out of a destroyed one).
    pub fn queued(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.queue.load(R) != NO_QUEUE)
            .count()
    }

    fn at(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    fn index_of<T: Waits>(&self, id: T) -> Option<u32> {
        let i = id.node(self.split);
        (i < self.nodes.len()).then_some(i as u32)
    }

    fn waiter<T: Waits>(&self, i: u32) -> T {
        let n = self.at(i);
        T::unpack(i as usize, self.split, n.tag.load(R), n.word.load(R))
    }
}

/// A FIFO list of waiters linked through `StallNodes`: what both queue kinds are made of.
#[derive(Debug)]
struct List {
    key: u32,
    head: u32,
    tail: u32,
    len: u32,
}

impl List {
    const fn new(key: u32) -> List {
        List {
            key,
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    fn waiters<'n, T: Waits>(&self, nodes: &'n StallNodes) -> impl Iterator<Item = T> + 'n {
        let mut at = self.head;
        let mut left = self.len;
        core::iter::from_fn(move || {
            if at == NIL || left == 0 {
                return None;
            }
            let here = at;
            at = nodes.at(here).next.load(R);
            left -= 1;
            Some(nodes.waiter(here))
        })
    }

    /// `id`'s node, if `id` itself (not an earlier stall of its waiter) waits here.
    fn node_here<T: Waits>(&self, nodes: &StallNodes, id: T) -> Option<u32> {
        let i = nodes.index_of(id)?;
        let n = nodes.at(i);
        (n.queue.load(R) == self.key && (n.tag.load(R), n.word.load(R)) == id.pack()).then_some(i)
    }

    /// Claims `id`'s node for this list, or says why not.
    fn claim<T: Waits>(&self, nodes: &StallNodes, id: T) -> Result<u32, StallError> {
        let i = nodes.index_of(id).ok_or(StallError::NoNode)?;
        let n = nodes.at(i);
        if n.queue.load(R) != NO_QUEUE {
            return Err(StallError::AlreadyQueued);
        }
        let (tag, word) = id.pack();
        n.tag.store(tag, R);
        n.word.store(word, R);
        n.queue.store(self.key, R);
        Ok(i)
    }

    fn link_back(&mut self, nodes: &StallNodes, i: u32) {
        let n = nodes.at(i);
        n.prev.store(self.tail, R);
        n.next.store(NIL, R);
        match self.tail {
            NIL => self.head = i,
            t => nodes.at(t).next.store(i, R),
        }
        self.tail = i;
        self.len += 1;
    }

    fn link_front(&mut self, nodes: &StallNodes, i: u32) {
        let n = nodes.at(i);
        n.prev.store(NIL, R);
        n.next.store(self.head, R);
        match self.head {
            NIL => self.tail = i,
            h => nodes.at(h).prev.store(i, R),
        }
        self.head = i;
        self.len += 1;
    }

    #[inline]
    fn unlink(&mut self, nodes: &StallNodes, i: u32) {
        let n = nodes.at(i);
        let (prev, next) = (n.prev.load(R), n.next.load(R));
        match prev {
            NIL => self.head = next,
            p => nodes.at(p).next.store(next, R),
        }
        match next {
            NIL => self.tail = prev,
            x => nodes.at(x).prev.store(prev, R),
        }
        n.queue.store(NO_QUEUE, R);
        n.prev.store(NIL, R);
        n.next.store(NIL, R);
        self.len -= 1;
    }

    #[inline]
    fn pop_front<T: Waits>(&mut self, nodes: &StallNodes) -> Option<T> {
        (self.head != NIL).then(|| {
            let head = self.head;
            let id = nodes.waiter(head);
            self.unlink(nodes, head);
            id
        })
    }

    fn remove<T: Waits>(&mut self, nodes: &StallNodes, id: T) -> bool {
        match self.node_here(nodes, id) {
            Some(i) => {
                self.unlink(nodes, i);
                true
            }
            None => false,
        }
    }

    fn check(&self, nodes: &StallNodes) -> bool {
        let mut prev = NIL;
        let mut at = self.head;
        let mut seen = 0u32;
        while at != NIL {
            if seen == self.len || at as usize >= nodes.nodes.len() {
                return false;
            }
            let n = nodes.at(at);
            if n.queue.load(R) != self.key || n.prev.load(R) != prev {
                return false;
            }
            seen += 1;
            prev = at;
            at = n.next.load(R);
        }
        seen == self.len && self.tail == prev
    }
}

/// A FIFO stall queue with an owner, linked through `StallNodes`.
#[derive(Debug)]
pub struct StallQueue<T> {
    list: List,
    owner: Owner<T>,
}

impl<T: Waits> StallQueue<T> {
    /// An empty queue named `key` whose resource is owned by nobody.
    pub const fn new(key: u32) -> StallQueue<T> {
        StallQueue {
            list: List::new(key),
            owner: Owner::Resource,
        }
    }

    /// The current owner.
    pub fn owner(&self) -> Owner<T> {
        self.owner
    }

    /// The waiters, head first.
    pub fn waiters<'n>(&self, nodes: &'n StallNodes) -> impl Iterator<Item = T> + 'n {
        self.list.waiters(nodes)
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        self.list.len as usize
    }

    /// Whether nobody waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.list.len == 0
    }

    /// Whether `id` waits here.
    pub fn contains(&self, nodes: &StallNodes, id: T) -> bool {
        self.list.node_here(nodes, id).is_some()
    }

    /// Whether `id` may use the resource now (if it is ready): it owns the queue, or nobody
    /// owns it and nobody waits. Otherwise `id` must stall, or it would barge.
    #[inline]
    pub fn may_take(&self, id: T) -> bool {
        match self.owner {
            Owner::Process(o) => o == id,
            Owner::Resource => self.list.len == 0,
        }
    }

    /// Puts `id` at the tail. If `id` is the owner and found the resource not ready after all,
    /// it goes back to the head (it was first in line) and ownership returns to the resource.
    pub fn stall(&mut self, nodes: &StallNodes, id: T) -> Result<(), StallError> {
        let i = self.list.claim(nodes, id)?;
        if self.owner == Owner::Process(id) {
            self.owner = Owner::Resource;
            self.list.link_front(nodes, i);
        } else {
            self.list.link_back(nodes, i);
        }
        Ok(())
    }

    /// The resource became ready: if nobody owns it, the head (if any) becomes owner and is
    /// returned to be woken. An owned resource stays with its owner.
    #[inline]
    pub fn wake_one(&mut self, nodes: &StallNodes) -> Option<T> {
        match self.owner {
            Owner::Process(_) => None,
            Owner::Resource => self.pass_to_next(nodes),
        }
    }

    /// The owner `id` used the resource. If it is still available, the next waiter becomes
    /// owner and is returned to be woken; otherwise ownership returns to the resource.
    /// A call by a non-owner (one that took a free resource without queueing) changes nothing.
    #[inline]
    pub fn used(&mut self, nodes: &StallNodes, id: T, still_available: bool) -> Option<T> {
        if self.owner != Owner::Process(id) {
            return None;
        }
        if still_available {
            self.pass_to_next(nodes)
        } else {
            self.owner = Owner::Resource;
            None
        }
    }

    /// The owner `id` gives ownership back to the resource without using it (it is not ready):
    /// the next `wake_one` hands it on. Returns whether `id` was the owner.
    #[inline]
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
    pub fn remove(&mut self, nodes: &StallNodes, id: T) -> Option<T> {
        if self.owner == Owner::Process(id) {
            return self.pass_to_next(nodes);
        }
        self.list.remove(nodes, id);
        None
    }

    /// The resource is gone (its object is destroyed): every waiter leaves, head first, and
    /// nobody owns it any more. The waiters must be told, or they would wait forever.
    pub fn take_all<'q>(&'q mut self, nodes: &'q StallNodes) -> impl Iterator<Item = T> + 'q {
        self.owner = Owner::Resource;
        core::iter::from_fn(move || self.list.pop_front(nodes))
    }

    /// Checks the invariants in the file header.
    pub fn check_invariants(&self, nodes: &StallNodes) -> Result<(), QueueViolation<T>> {
        if !self.list.check(nodes) {
            return Err(QueueViolation::Links);
        }
        match self.owner {
            Owner::Process(o) if self.contains(nodes, o) => Err(QueueViolation::OwnerQueued(o)),
            _ => Ok(()),
        }
    }

    #[inline]
    fn pass_to_next(&mut self, nodes: &StallNodes) -> Option<T> {
        let next = self.list.pop_front(nodes);
        self.owner = next.map_or(Owner::Resource, Owner::Process);
        next
    }
}

/// A queue whose event concerns every waiter (seed 002's completion kind): no owner, woken
/// head first, each waiter once. It shares `StallNodes` with the stall queues: a waiter is in
/// one queue of either kind at a time.
#[derive(Debug)]
pub struct WakeAllQueue<T> {
    list: List,
    _waiters: core::marker::PhantomData<T>,
}

impl<T: Waits> WakeAllQueue<T> {
    /// An empty queue named `key` (unique among all queues sharing the nodes).
    pub const fn new(key: u32) -> WakeAllQueue<T> {
        WakeAllQueue {
            list: List::new(key),
            _waiters: core::marker::PhantomData,
        }
    }

    /// Puts `id` at the tail.
    pub fn wait(&mut self, nodes: &StallNodes, id: T) -> Result<(), StallError> {
        let i = self.list.claim(nodes, id)?;
        self.list.link_back(nodes, i);
        Ok(())
    }

    /// The event happened: the next waiter to wake, taken off the queue. Waking them one at a
    /// time lets the caller lock each alone, with nothing to allocate for the rest.
    pub fn take_one(&mut self, nodes: &StallNodes) -> Option<T> {
        self.list.pop_front(nodes)
    }

    /// `id` was halted or destroyed while waiting. Returns whether it was waiting.
    pub fn remove(&mut self, nodes: &StallNodes, id: T) -> bool {
        self.list.remove(nodes, id)
    }

    /// Whether `id` waits here.
    pub fn contains(&self, nodes: &StallNodes, id: T) -> bool {
        self.list.node_here(nodes, id).is_some()
    }

    /// The waiters, head first.
    pub fn waiters<'n>(&self, nodes: &'n StallNodes) -> impl Iterator<Item = T> + 'n {
        self.list.waiters(nodes)
    }

    /// Whether nobody waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.list.len == 0
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        self.list.len as usize
    }

    /// Checks the list invariants in the file header.
    pub fn check_invariants(&self, nodes: &StallNodes) -> Result<(), QueueViolation<T>> {
        if self.list.check(nodes) {
            Ok(())
        } else {
            Err(QueueViolation::Links)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn queue() -> (StallNodes, StallQueue<u32>) {
        (StallNodes::new(16, 16), StallQueue::new(0))
    }

    #[test]
    fn wake_order_is_queue_order_and_the_woken_owns() {
        let (n, mut q) = queue();
        for id in [1, 2, 3] {
            q.stall(&n, id).unwrap();
        }
        assert!(!q.may_take(9), "a newcomer may not barge past waiters");
        assert_eq!(q.wake_one(&n), Some(1));
        assert_eq!(q.owner(), Owner::Process(1));
        assert!(q.may_take(1));
        assert!(!q.may_take(2));
        assert_eq!(
            q.wake_one(&n),
            None,
            "an owned resource stays with its owner"
        );
        assert_eq!(q.used(&n, 1, true), Some(2));
        assert_eq!(q.used(&n, 2, false), None);
        assert_eq!(q.owner(), Owner::Resource);
        assert_eq!(q.wake_one(&n), Some(3));
        assert_eq!(q.used(&n, 3, true), None);
        assert!(q.may_take(9));
        q.check_invariants(&n).unwrap();
    }

    #[test]
    fn an_owner_that_leaves_passes_ownership_on() {
        let (n, mut q) = queue();
        q.stall(&n, 1).unwrap();
        q.stall(&n, 2).unwrap();
        assert_eq!(q.wake_one(&n), Some(1));
        assert_eq!(q.remove(&n, 1), Some(2));
        assert_eq!(q.owner(), Owner::Process(2));
        assert_eq!(q.remove(&n, 2), None);
        assert_eq!(q.owner(), Owner::Resource);
    }

    #[test]
    fn a_halted_waiter_vanishes_without_waking_anyone() {
        let (n, mut q) = queue();
        for id in [1, 2, 3] {
            q.stall(&n, id).unwrap();
        }
        assert_eq!(q.remove(&n, 2), None);
        assert_eq!(q.waiters(&n).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(q.remove(&n, 7), None);
        assert_eq!(q.len(), 2);
        q.check_invariants(&n).unwrap();
    }

    #[test]
    fn an_owner_that_finds_it_not_ready_goes_back_to_the_head() {
        let (n, mut q) = queue();
        q.stall(&n, 1).unwrap();
        q.stall(&n, 2).unwrap();
        assert_eq!(q.wake_one(&n), Some(1));
        q.stall(&n, 1).unwrap();
        assert_eq!(q.owner(), Owner::Resource);
        assert_eq!(q.waiters(&n).collect::<Vec<_>>(), vec![1, 2]);
        q.check_invariants(&n).unwrap();
    }

    #[test]
    fn give_back_returns_ownership_to_the_resource() {
        let (n, mut q) = queue();
        q.stall(&n, 1).unwrap();
        q.stall(&n, 2).unwrap();
        q.wake_one(&n);
        assert!(!q.give_back(2));
        assert!(q.give_back(1));
        assert_eq!(q.owner(), Owner::Resource);
        assert_eq!(q.wake_one(&n), Some(2));
    }

    #[test]
    fn a_waiter_waits_on_one_queue_at_a_time() {
        let (n, mut q) = queue();
        let mut other = StallQueue::new(1);
        q.stall(&n, 1).unwrap();
        assert_eq!(q.stall(&n, 1), Err(StallError::AlreadyQueued));
        assert_eq!(other.stall(&n, 1), Err(StallError::AlreadyQueued));
        assert!(!other.contains(&n, 1));
        assert_eq!(other.remove(&n, 1), None);
        assert_eq!(
            q.len(),
            1,
            "removing from the wrong queue leaves the waiter where it is"
        );
        assert_eq!(q.stall(&n, 99), Err(StallError::NoNode));
        q.remove(&n, 1);
        other.stall(&n, 1).unwrap();
        q.check_invariants(&n).unwrap();
        other.check_invariants(&n).unwrap();
    }

    #[test]
    fn take_all_frees_every_node_for_another_queue() {
        let (n, mut q) = queue();
        for id in [4, 5, 6] {
            q.stall(&n, id).unwrap();
        }
        q.wake_one(&n);
        assert_eq!(q.take_all(&n).collect::<Vec<_>>(), vec![5, 6]);
        assert_eq!(q.owner(), Owner::Resource);
        let mut other = StallQueue::new(1);
        for id in [4, 5, 6] {
            other.stall(&n, id).unwrap();
        }
        q.check_invariants(&n).unwrap();
        other.check_invariants(&n).unwrap();
    }

    #[test]
    fn a_wake_all_queue_shares_the_nodes_and_wakes_in_order() {
        let (n, mut q) = queue();
        let mut all = WakeAllQueue::new(1);
        q.stall(&n, 1).unwrap();
        assert_eq!(all.wait(&n, 1), Err(StallError::AlreadyQueued));
        for id in [3, 2, 4] {
            all.wait(&n, id).unwrap();
        }
        assert!(all.remove(&n, 2));
        assert!(!all.remove(&n, 1), "1 waits on the other queue");
        assert_eq!(all.waiters(&n).collect::<Vec<_>>(), vec![3, 4]);
        all.check_invariants(&n).unwrap();
        assert_eq!(all.take_one(&n), Some(3));
        assert_eq!(all.take_one(&n), Some(4));
        assert_eq!(all.take_one(&n), None);
        assert!(all.is_empty());
        assert_eq!(n.queued(), 1);
    }

    #[test]
    fn used_by_a_non_owner_changes_nothing() {
        let (n, mut q) = queue();
        q.stall(&n, 1).unwrap();
        assert_eq!(q.used(&n, 5, true), None);
        assert_eq!(q.owner(), Owner::Resource);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn check_invariants_catches_a_broken_queue() {
        let (n, mut q) = queue();
        q.stall(&n, 1).unwrap();
        q.stall(&n, 2).unwrap();
        n.at(2).prev.store(3, R);
        assert_eq!(q.check_invariants(&n), Err(QueueViolation::Links));
        n.at(2).prev.store(1, R);
        q.check_invariants(&n).unwrap();
        n.at(2).next.store(1, R);
        assert_eq!(
            q.check_invariants(&n),
            Err(QueueViolation::Links),
            "a cycle"
        );
        n.at(2).next.store(NIL, R);
        q.list.len = 3;
        assert_eq!(q.check_invariants(&n), Err(QueueViolation::Links));
        q.list.len = 2;
        q.owner = Owner::Process(2);
        assert_eq!(q.check_invariants(&n), Err(QueueViolation::OwnerQueued(2)));
    }
}
