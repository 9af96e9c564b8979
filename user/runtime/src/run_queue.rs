//! A VP's run queue: its runnable chores, linked through their control blocks (so a queue of
//! any length allocates nothing), singly: the owner pushes at the back and takes the front,
//! and a thief takes the chore nearest the front that is not bound to its VP (the one that
//! has waited longest, as Go's and Tokio's thieves take).
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
        // SAFETY: the tail, if any, is a queued chore. The new tail's `run_next` is left as it
        // is: the tail's link is never read (`pop_front` and `steal` stop at the tail).
        match unsafe { self.tail.as_ref() } {
            Some(t) => t.run_next.set(p),
            None => self.head = p,
        }
        self.tail = p;
    }

    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<ChoreRef> {
        let p = NonNull::new(self.head.cast_mut())?;
        if ptr::eq(p.as_ptr(), self.tail) {
            self.head = ptr::null();
            self.tail = ptr::null();
        } else {
            // SAFETY: a queued chore other than the tail links to the next one.
            self.head = unsafe { p.as_ref() }.run_next.get();
        }
        // SAFETY: unlinked just above: its reference is ours now.
        Some(unsafe { ChoreRef::from_raw(p) })
    }

    /// The chore nearest the front that is not bound to its VP.
    pub(crate) fn steal(&mut self) -> Option<ChoreRef> {
        let mut prev: *const Chore = ptr::null();
        let mut at = self.head;
        // SAFETY: every linked chore is alive (queued).
        while let Some(c) = unsafe { at.as_ref() } {
            let next = if ptr::eq(at, self.tail) {
                ptr::null()
            } else {
                c.run_next.get()
            };
            if !c.bound.load(Ordering::Relaxed) {
                // SAFETY: `prev`, if any, is the queued chore linking to `c`.
                match unsafe { prev.as_ref() } {
                    Some(p) => p.run_next.set(next),
                    None => self.head = next,
                }
                if next.is_null() {
                    self.tail = prev;
                }
                // SAFETY: unlinked just above: its reference is ours now.
                return Some(unsafe { ChoreRef::from_raw(NonNull::from(c)) });
            }
            prev = at;
            at = next;
        }
        None
    }
}
