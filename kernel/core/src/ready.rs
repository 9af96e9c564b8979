//! A CPU's run queue behind its lock, with the ready word: which priority levels hold someone
//! ready (a process or a post activity: `RunQueue::ready_levels`), readable without the lock.
//!
//! The fast paths ask "does this CPU's queue hold anyone of priority p or higher?" on every
//! switch (`invoke/fastpath.rs`); taking the queue's lock for that costs more than the rest of
//! the check. The word answers it with one load.
//!
//! # Invariants
//! - The word equals the queue's `ready_levels` whenever the queue's lock is free: every guard
//!   writes it back when it is dropped, before the lock is released.
//! - A reader without the lock sees the bitmap as of some moment; the fast path's check is as
//!   stale as it was with the lock taken and dropped at once, which it tolerates (a process
//!   queued just after is picked at the next exit).

use core::ops::{Deref, DerefMut};
use spin::mutex::{SpinMutex, SpinMutexGuard};

use crate::cap::ObjId;
use crate::run_queue::{Priority, RunQueue};
use crate::sync::atomic::{AtomicU32, Ordering};

/// One CPU's run queue and its ready word. Leaf lock (level 7): held alone, briefly.
pub struct ReadyQueue {
    queue: SpinMutex<RunQueue<ObjId>>,
    word: AtomicU32,
}

/// The queue, locked; writes the ready word back when dropped.
pub struct ReadyGuard<'a> {
    queue: SpinMutexGuard<'a, RunQueue<ObjId>>,
    word: &'a AtomicU32,
}

impl ReadyQueue {
    /// An empty queue with room for `processes` processes.
    pub fn new(processes: usize) -> ReadyQueue {
        ReadyQueue {
            queue: SpinMutex::new(RunQueue::new(processes)),
            word: AtomicU32::new(0),
        }
    }

    /// Waits for the lock.
    #[inline]
    pub fn lock(&self) -> ReadyGuard<'_> {
        ReadyGuard {
            queue: self.queue.lock(),
            word: &self.word,
        }
    }

    /// Takes the lock if it is free.
    #[inline]
    pub fn try_lock(&self) -> Option<ReadyGuard<'_>> {
        self.queue.try_lock().map(|queue| ReadyGuard {
            queue,
            word: &self.word,
        })
    }

    /// The highest priority with someone queued, read without the lock.
    #[inline]
    pub fn highest(&self) -> Option<Priority> {
        Priority::highest_of(self.word.load(Ordering::Acquire))
    }
}

impl Deref for ReadyGuard<'_> {
    type Target = RunQueue<ObjId>;
    fn deref(&self) -> &RunQueue<ObjId> {
        &self.queue
    }
}

impl DerefMut for ReadyGuard<'_> {
    fn deref_mut(&mut self) -> &mut RunQueue<ObjId> {
        &mut self.queue
    }
}

impl Drop for ReadyGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Written while the lock is still held (the guard's fields drop after this).
        self.word
            .store(self.queue.ready_levels(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_queue::Position;

    fn id(index: u32) -> ObjId {
        ObjId {
            index,
            generation: 1,
        }
    }

    #[test]
    fn the_word_follows_every_change_made_under_the_lock() {
        let q = ReadyQueue::new(8);
        assert_eq!(q.highest(), None);
        let low = Priority::new(3).unwrap();
        let high = Priority::new(9).unwrap();
        q.lock().enqueue(id(1), low, Position::Tail).unwrap();
        assert_eq!(q.highest(), Some(low));
        q.lock().enqueue(id(2), high, Position::Tail).unwrap();
        assert_eq!(q.highest(), Some(high));
        if let Some(mut g) = q.try_lock() {
            g.remove(id(2));
        }
        assert_eq!(q.highest(), Some(low));
        assert_eq!(q.lock().pick().map(|(i, _)| i), Some(id(1)));
        assert_eq!(q.highest(), None);
    }
}
