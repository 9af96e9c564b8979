//! Explicit block / unblock on a wait queue (seed 000 section 7.1.1): a chore blocks only
//! itself; others unblock the first waiter or all of them.
//!
//! Guarantees: FIFO wake order; `block_if` tests its condition under the queue's lock, so a
//! waker that changes the condition and then unblocks can never be missed.

use alloc::collections::VecDeque;

use crate::sync::RawSpin;
use crate::wait::{check_no_spin_held, Suspend, Waker};

pub struct WaitQueue {
    /// Protects the suspension records of the blocked chores, oldest first.
    waiters: RawSpin<VecDeque<Waker>>,
}

impl Default for WaitQueue {
    fn default() -> Self {
        WaitQueue::new()
    }
}

impl WaitQueue {
    pub fn new() -> WaitQueue {
        WaitQueue {
            waiters: RawSpin::new(VecDeque::new()),
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
        list.push_back(ctx.waker());
        ctx.park(list);
        true
    }

    /// Unblocks the first waiter; says whether there was one.
    pub fn unblock_one(&self) -> bool {
        let first = self.waiters.lock().pop_front();
        first.map(Waker::wake).is_some()
    }

    /// Unblocks every waiter, oldest first; returns how many.
    pub fn unblock_all(&self) -> usize {
        let mut list = self.waiters.lock();
        if list.is_empty() {
            return 0;
        }
        let n = list.len();
        // Woken under the list's lock (before a run queue's, in the lock order), which keeps
        // the list's buffer for the next waiters.
        list.drain(..).for_each(Waker::wake);
        n
    }

    pub fn len(&self) -> usize {
        self.waiters.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
