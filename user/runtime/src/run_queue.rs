//! A VP's run queue: its runnable chores, linked through their control blocks (so a queue of
//! any length allocates nothing). The owner takes the front; a thief takes the chore nearest
//! the back that is not bound to its VP.
//!
//! Guarantees: a chore is on at most one queue, which holds its scheduling reference from
//! `push_back` until it is taken off. Assumes: used under its VP's run-queue lock.

use core::ptr::{self, NonNull};

use crate::chore::{Chore, ChoreRef};
use crate::sync::atomic::Ordering;

pub(crate) struct RunQueue {
    head: *const Chore,
    tail: *const Chore,
}

// SAFETY: the chores it links are reached only under the VP's run-queue lock, and each holds
// the scheduling reference that keeps it alive.
unsafe impl Send for RunQueue {}

impl RunQueue {
    pub(crate) const fn new() -> RunQueue {
        RunQueue {
            head: ptr::null(),
            tail: ptr::null(),
        }
    }

    #[inline]
    pub(crate) fn push_back(&mut self, chore: ChoreRef) {
        let p = chore.into_raw().as_ptr() as *const Chore;
        // SAFETY: the reference just given up keeps the chore alive while it is queued; the
        // tail, if any, is a queued chore.
        unsafe {
            (*p).run_next.set(ptr::null());
            (*p).run_prev.set(self.tail);
            match self.tail.as_ref() {
                Some(t) => t.run_next.set(p),
                None => self.head = p,
            }
        }
        self.tail = p;
    }

    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<ChoreRef> {
        let p = NonNull::new(self.head.cast_mut())?;
        // SAFETY: a queued chore is alive, and so is its successor if any; the front has no
        // predecessor. Unlinking it hands its reference back.
        unsafe {
            let next = p.as_ref().run_next.get();
            self.head = next;
            match next.as_ref() {
                Some(n) => n.run_prev.set(ptr::null()),
                None => self.tail = ptr::null(),
            }
            Some(ChoreRef::from_raw(p))
        }
    }

    /// The chore nearest the back that is not bound to its VP.
    pub(crate) fn steal(&mut self) -> Option<ChoreRef> {
        let mut at = self.tail;
        // SAFETY: every linked chore is alive (queued).
        while let Some(c) = unsafe { at.as_ref() } {
            if !c.bound.load(Ordering::Relaxed) {
                self.unlink(c);
                // SAFETY: unlinked just above: its reference is ours now.
                return Some(unsafe { ChoreRef::from_raw(NonNull::from(c)) });
            }
            at = c.run_prev.get();
        }
        None
    }

    fn unlink(&mut self, c: &Chore) {
        let (prev, next) = (c.run_prev.get(), c.run_next.get());
        // SAFETY: the neighbours of a queued chore are queued chores.
        unsafe {
            match prev.as_ref() {
                Some(p) => p.run_next.set(next),
                None => self.head = next,
            }
            match next.as_ref() {
                Some(n) => n.run_prev.set(prev),
                None => self.tail = prev,
            }
        }
    }
}
