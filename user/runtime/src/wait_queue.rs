//! Explicit block / unblock on a wait queue (seed 000 section 7.1.1): a chore blocks only
//! itself; others unblock the first waiter or all of them. The suspension records are linked
//! through the blocked chores' own frames, so blocking allocates nothing (100,000 chores may
//! wait on one queue).
//!
//! Guarantees: FIFO wake order; `block_if` tests its condition under the queue's lock, so a
//! waker that changes the condition and then unblocks can never be missed. A record is
//! unlinked (under the lock) before its chore is woken, so the frame holding it is never
//! touched after the chore runs again.

use core::ptr;

use crate::sync::RawSpin;
use crate::wait::{check_no_spin_held, Suspend, Waker};

/// A blocked chore's suspension record, in its frame in `block_if`.
struct Record {
    waker: Waker,
    next: *mut Record,
}

/// The records, oldest first.
struct List {
    head: *mut Record,
    tail: *mut Record,
    len: usize,
}

// SAFETY: the records are reached only under the queue's lock, and each stays alive (its
// chore parked) until it is unlinked.
unsafe impl Send for List {}

impl List {
    fn pop(&mut self) -> Option<Waker> {
        if self.head.is_null() {
            return None;
        }
        // SAFETY: a linked record is alive until unlinked, which is now, under the lock.
        let r = unsafe { &*self.head };
        self.head = r.next;
        if self.head.is_null() {
            self.tail = ptr::null_mut();
        }
        self.len -= 1;
        Some(r.waker)
    }
}

pub struct WaitQueue {
    /// Protects the list of suspension records of the blocked chores.
    waiters: RawSpin<List>,
}

impl Default for WaitQueue {
    fn default() -> Self {
        WaitQueue::new()
    }
}

impl WaitQueue {
    pub fn new() -> WaitQueue {
        WaitQueue {
            waiters: RawSpin::new(List {
                head: ptr::null_mut(),
                tail: ptr::null_mut(),
                len: 0,
            }),
        }
    }

    /// Blocks the caller until unblocked.
    pub fn block<C: Suspend>(&self, ctx: &mut C) {
        self.block_if(ctx, || true);
    }

    /// Blocks the caller if `cond` holds (tested under the queue's lock); says whether it did.
    pub fn block_if<C: Suspend>(&self, ctx: &mut C, cond: impl FnOnce() -> bool) -> bool {
        let mut list = self.waiters.lock();
        if !cond() {
            return false;
        }
        check_no_spin_held(ctx);
        let mut record = Record {
            waker: ctx.waker(),
            next: ptr::null_mut(),
        };
        let r: *mut Record = &mut record;
        if list.tail.is_null() {
            list.head = r;
        } else {
            // SAFETY: the tail record is alive (linked), and we hold the lock.
            unsafe { (*list.tail).next = r };
        }
        list.tail = r;
        list.len += 1;
        // Parked until a waker unlinks `record`, so it outlives its time on the list.
        ctx.park(list);
        true
    }

    /// Unblocks the first waiter; says whether there was one.
    pub fn unblock_one(&self) -> bool {
        let first = self.waiters.lock().pop();
        first.map(Waker::wake).is_some()
    }

    /// Unblocks every waiter, oldest first; returns how many. They are woken under the list's
    /// lock (which comes before a run queue's in the lock order).
    #[inline]
    pub fn unblock_all(&self) -> usize {
        self.unblock_all_from(core::ptr::null())
    }

    /// `unblock_all` by a waker running on VP `here` (`Waker::wake_from`).
    #[inline]
    pub(crate) fn unblock_all_from(&self, here: *const ()) -> usize {
        let mut list = self.waiters.lock();
        let mut n = 0;
        while let Some(w) = list.pop() {
            w.wake_from(here);
            n += 1;
        }
        n
    }

    pub fn len(&self) -> usize {
        self.waiters.lock().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
