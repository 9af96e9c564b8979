//! The lock cell of the two suspending classes: a full/empty word holding the holder's chore id
//! (0 = empty), with `WAITER_FLAG` standing in for the seed's data-trap bit, and a FIFO wait
//! list of suspension records (section 7.1).
//!
//! Guarantees: the unlocker hands the lock to the first waiter only, in arrival order, by
//! writing that waiter's id into the cell (the seed relocates the waiter's store; here the
//! unlocker makes it); while anyone waits the cell never reads empty, so no newcomer barges.
//! Lock order: the wait-list `RawSpin` is taken alone (then the woken chore's ready list).

use alloc::collections::VecDeque;

use crate::id::{ChoreId, WAITER_FLAG};
use crate::sync::atomic::{fence, spin_loop, AtomicU64, Ordering};
use crate::sync::RawSpin;
use crate::wait::{check_no_spin_held, spin_tries, Suspend, Waker};

struct Waiter {
    id: ChoreId,
    waker: Waker,
}

pub(crate) struct LockCell {
    word: AtomicU64,
    /// Protects the suspension records of the chores waiting for the cell, oldest first.
    waiters: RawSpin<VecDeque<Waiter>>,
}

impl LockCell {
    pub(crate) fn new() -> LockCell {
        LockCell {
            word: AtomicU64::new(0),
            waiters: RawSpin::new(VecDeque::new()),
        }
    }

    pub(crate) fn holder(&self) -> Option<ChoreId> {
        ChoreId::from_cell(self.word.load(Ordering::Relaxed))
    }

    pub(crate) fn has_waiters(&self) -> bool {
        self.word.load(Ordering::Relaxed) & WAITER_FLAG != 0
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiters.lock().len()
    }

    pub(crate) fn try_acquire(&self, me: ChoreId) -> bool {
        self.word
            .compare_exchange(0, me.raw(), Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Spins `retries` times, then suspends on the wait list until handed the lock.
    pub(crate) fn acquire(&self, ctx: &mut impl Suspend, retries: u32) {
        let me = ctx.chore_id();
        for _ in 0..spin_tries(ctx, retries) {
            if self.try_acquire(me) {
                return;
            }
            spin_loop();
        }
        let mut list = self.waiters.lock();
        let holder = loop {
            let word = self.word.load(Ordering::Relaxed);
            if word == 0 {
                if self.try_acquire(me) {
                    return;
                }
                continue;
            }
            if word & WAITER_FLAG != 0
                || self
                    .word
                    .compare_exchange(
                        word,
                        word | WAITER_FLAG,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                break word & !WAITER_FLAG;
            }
        };
        check_no_spin_held(ctx);
        ctx.waiting_for(holder);
        list.push_back(Waiter {
            id: me,
            waker: ctx.waker(),
        });
        ctx.park(list);
        // Waiting for no one any more (kept here, not in every wake).
        ctx.waiting_for(0);
        // The unlocker wrote our id with Release before waking us.
        debug_assert_eq!(self.holder(), Some(me));
        fence(Ordering::Acquire);
    }

    pub(crate) fn release(&self, me: ChoreId) {
        if self
            .word
            .compare_exchange(me.raw(), 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        let mut list = self.waiters.lock();
        let Some(first) = list.pop_front() else {
            unreachable!("lock cell {me} has its waiter flag set and no waiter");
        };
        let flag = if list.is_empty() { 0 } else { WAITER_FLAG };
        self.word.store(first.id.raw() | flag, Ordering::Release);
        drop(list);
        first.waker.wake();
    }
}
