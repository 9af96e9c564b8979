//! The pool of post activities (seed 003).
//!
//! A POST whose recipient is not available is carried by a post activity: the payload, the
//! badge of the endpoint it came through, and the sender's priority. The activity waits on the
//! recipient's sender queue in FIFO order with the stalled senders; when the recipient becomes
//! available and the activity is at the head, it is delivered at once and freed. The pool is
//! bounded: when it is empty the sender stalls on the pool's own queue until an activity is
//! freed, so POSTs are never dropped.
//!
//! # Invariants (checked by `Kernel::check_invariants`)
//! - Every activity is either free (its index in `free`) or in use, queued on exactly one live
//!   process's sender queue; never both, never neither.
//! - `waiting` holds processes stalled for a free activity, served in FIFO order with an owner.
//!
//! The pool sits behind one lock (`LockKey::POST_POOL`), taken like an object lock.

use alloc::vec::Vec;
use tessera_abi::post::PostPayload;

use crate::cap::ObjId;
use crate::object::process::Staller;
use crate::sched::Priority;
use crate::stall_queue::StallQueue;

/// The name of a post activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PostId(pub u32);

/// A POST in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activity {
    /// The recipient process.
    pub target: ObjId,
    /// The badge of the endpoint it was sent through.
    pub badge: u64,
    /// Order code and word.
    pub payload: PostPayload,
    /// The sender's priority at the time of the POST.
    pub priority: Priority,
    /// Arrival stamp on the recipient's queue (FIFO order is checked against it).
    pub stamp: u64,
}

/// The bounded pool.
#[derive(Debug)]
pub struct PostPool {
    slots: Vec<Option<Activity>>,
    free: Vec<PostId>,
    /// Processes stalled until an activity is free.
    pub waiting: StallQueue<Staller>,
}

impl PostPool {
    /// A pool of `size` free activities.
    pub fn new(size: u32) -> PostPool {
        PostPool {
            slots: (0..size).map(|_| None).collect(),
            free: (0..size).rev().map(PostId).collect(),
            waiting: StallQueue::new(),
        }
    }

    /// Whether an activity is free.
    pub fn has_free(&self) -> bool {
        !self.free.is_empty()
    }

    /// How many activities are free.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }

    /// The pool's size.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// The activity the next `take` will hand out.
    pub fn next_free(&self) -> Option<PostId> {
        self.free.last().copied()
    }

    /// Takes a free activity for `a`; `None` if the pool is empty.
    pub fn take(&mut self, a: Activity) -> Option<PostId> {
        let id = self.free.pop()?;
        self.slots[id.0 as usize] = Some(a);
        Some(id)
    }

    /// The activity `id`, if in use.
    pub fn get(&self, id: PostId) -> Option<&Activity> {
        self.slots.get(id.0 as usize)?.as_ref()
    }

    /// Frees `id`, returning what it carried.
    pub fn release(&mut self, id: PostId) -> Option<Activity> {
        let a = self.slots.get_mut(id.0 as usize)?.take()?;
        self.free.push(id);
        Some(a)
    }

    /// Every activity in use.
    pub fn in_use(&self) -> impl Iterator<Item = (PostId, &Activity)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, a)| Some((PostId(i as u32), a.as_ref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn act(word: u64) -> Activity {
        Activity {
            target: ObjId {
                index: 1,
                generation: 1,
            },
            badge: 0,
            payload: PostPayload { order: 1, word },
            priority: Priority::LOWEST,
            stamp: word,
        }
    }

    #[test]
    fn bounded_and_reusable() {
        let mut p = PostPool::new(2);
        let a = p.take(act(1)).unwrap();
        let b = p.take(act(2)).unwrap();
        assert!(p.take(act(3)).is_none());
        assert_eq!(p.release(a).map(|x| x.payload.word), Some(1));
        assert_eq!(p.release(a), None, "freed once only");
        assert_eq!(p.get(b).map(|x| x.payload.word), Some(2));
        assert_eq!(p.in_use().count(), 1);
        assert!(p.has_free());
    }
}
