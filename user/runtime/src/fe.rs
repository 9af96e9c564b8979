//! Full/empty cells on words (seed 000 section 6.1; qthreads' FEB operations): a word with a
//! full bit, and the four synchronizing accesses plus `empty`:
//! `read_fe` (wait full, read, leave empty), `write_ef` (wait empty, write, leave full),
//! `read_ff` (wait full, read, leave full), `write_f` (write, leave full), `empty`.
//!
//! Waiting is spin-suspend: spin up to `SPIN_RETRY_LIMIT` tries, then suspend on the cell's
//! wait list; so the waiting forms need a `Suspend` context. The `try_` forms never wait and
//! any chore kind may use them.
//!
//! Guarantees: waiters are served strictly in arrival order: after every access the first
//! waiter cannot proceed (if it could, it was served), so no newcomer overtakes a waiter; a
//! waiter is served by whoever changes the cell (its value is handed over in its record).
//! The records are linked through the waiting chores' frames: waiting allocates nothing.

use core::ptr;

use crate::lock::SPIN_RETRY_LIMIT;
use crate::sync::atomic::spin_loop;
use crate::sync::{RawSpin, RawSpinGuard};
use crate::wait::{check_no_spin_held, spin_tries, Suspend, Waker};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeOp {
    ReadFE,
    ReadFF,
    WriteEF(u64),
}

struct FeWaiter {
    op: FeOp,
    waker: Waker,
    next: *mut FeWaiter,
    /// Where a reader's value is handed over: a word in the waiter's suspended frame.
    slot: *mut u64,
}

struct State {
    value: u64,
    full: bool,
    /// The first and last waiter's record (in the waiters' frames, alive until unlinked).
    head: *mut FeWaiter,
    tail: *mut FeWaiter,
}

// SAFETY: the raw slot pointers are written only under the cell's lock by the chore that
// pops the waiter, and the waiter reads its slot only after that wake.
unsafe impl Send for State {}

pub struct FeWord {
    /// Protects the value, the full bit and the waiters' records.
    state: RawSpin<State>,
}

impl FeWord {
    pub fn empty_cell() -> FeWord {
        FeWord {
            state: RawSpin::new(State {
                value: 0,
                full: false,
                head: ptr::null_mut(),
                tail: ptr::null_mut(),
            }),
        }
    }

    pub fn full_cell(value: u64) -> FeWord {
        FeWord {
            state: RawSpin::new(State {
                value,
                full: true,
                head: ptr::null_mut(),
                tail: ptr::null_mut(),
            }),
        }
    }

    pub fn read_fe<C: Suspend>(&self, ctx: &mut C) -> u64 {
        self.wait(ctx, FeOp::ReadFE)
    }

    pub fn read_ff<C: Suspend>(&self, ctx: &mut C) -> u64 {
        self.wait(ctx, FeOp::ReadFF)
    }

    pub fn write_ef<C: Suspend>(&self, ctx: &mut C, value: u64) {
        self.wait(ctx, FeOp::WriteEF(value));
    }

    pub fn try_read_fe(&self) -> Option<u64> {
        Self::attempt(&mut self.state.lock(), FeOp::ReadFE, ptr::null())
    }

    pub fn try_read_ff(&self) -> Option<u64> {
        Self::attempt(&mut self.state.lock(), FeOp::ReadFF, ptr::null())
    }

    /// Writes if empty; gives the value back if the cell was full.
    pub fn try_write_ef(&self, value: u64) -> Result<(), u64> {
        match Self::attempt(&mut self.state.lock(), FeOp::WriteEF(value), ptr::null()) {
            Some(_) => Ok(()),
            None => Err(value),
        }
    }

    /// Writes and leaves the cell full, whatever its state (never waits).
    pub fn write_f(&self, value: u64) {
        let mut s = self.state.lock();
        s.value = value;
        s.full = true;
        Self::serve(&mut s, ptr::null());
    }

    /// Leaves the cell empty (never waits).
    pub fn empty(&self) {
        let mut s = self.state.lock();
        s.full = false;
        Self::serve(&mut s, ptr::null());
    }

    pub fn is_full(&self) -> bool {
        self.state.lock().full
    }

    /// The word and its full bit, without synchronizing: for debugging.
    pub fn peek(&self) -> (u64, bool) {
        let s = self.state.lock();
        (s.value, s.full)
    }

    /// How many chores wait on the cell (counted along the list: for tests and debugging,
    /// so the hand-offs keep no count).
    pub fn waiters(&self) -> usize {
        let s = self.state.lock();
        let mut n = 0;
        let mut at = s.head;
        // SAFETY: a linked record is alive until unlinked; we hold the cell's lock.
        while let Some(r) = unsafe { at.as_ref() } {
            n += 1;
            at = r.next;
        }
        n
    }

    /// Tries `op` once under the lock; then, where spinning cannot help (the task's only VP),
    /// suspends under the same hold, and otherwise (out of line) spins before suspending.
    #[inline(always)]
    fn wait<C: Suspend>(&self, ctx: &mut C, op: FeOp) -> u64 {
        let mut s = self.state.lock();
        if let Some(v) = Self::attempt(&mut s, op, ctx.here()) {
            return v;
        }
        if spin_tries(ctx, SPIN_RETRY_LIMIT) <= 1 {
            return Self::suspend(ctx, s, op);
        }
        drop(s);
        self.wait_spinning(ctx, op)
    }

    #[inline(never)]
    fn wait_spinning<C: Suspend>(&self, ctx: &mut C, op: FeOp) -> u64 {
        for _ in 1..spin_tries(ctx, SPIN_RETRY_LIMIT) {
            let mut s = self.state.lock();
            if let Some(v) = Self::attempt(&mut s, op, ctx.here()) {
                return v;
            }
            drop(s);
            spin_loop();
        }
        let mut s = self.state.lock();
        if let Some(v) = Self::attempt(&mut s, op, ctx.here()) {
            return v;
        }
        Self::suspend(ctx, s, op)
    }

    /// Links the caller's record behind the other waiters and parks it, releasing the cell
    /// once it is off its VP; returns the value its server handed over.
    #[inline(always)]
    fn suspend<C: Suspend>(ctx: &mut C, mut s: RawSpinGuard<'_, State>, op: FeOp) -> u64 {
        check_no_spin_held(ctx);
        let mut slot = 0u64;
        let mut record = FeWaiter {
            op,
            waker: ctx.waker(),
            slot: &mut slot,
            next: ptr::null_mut(),
        };
        let r: *mut FeWaiter = &mut record;
        if s.tail.is_null() {
            s.head = r;
        } else {
            // SAFETY: the last record is alive (linked), and we hold the cell's lock.
            unsafe { (*s.tail).next = r };
        }
        s.tail = r;
        // Parked until a server unlinks `record`, so it outlives its time on the list.
        ctx.park(s);
        slot
    }

    /// Performs `op` if the cell's state allows it now and no waiter is ahead of it; then
    /// serves the waiters the change lets proceed (waking them from VP `here`, if known).
    /// Returns the value read (0 for a write).
    #[inline(always)]
    fn attempt(s: &mut State, op: FeOp, here: *const ()) -> Option<u64> {
        debug_assert!(
            // SAFETY: a linked record is alive; the caller holds the cell's lock.
            s.head.is_null() || !Self::can(s, unsafe { (*s.head).op }),
            "a full/empty cell left a waiter that could proceed"
        );
        let v = Self::apply(s, op)?;
        if !s.head.is_null() {
            Self::serve(s, here);
        }
        Some(v)
    }

    fn can(s: &State, op: FeOp) -> bool {
        match op {
            FeOp::ReadFE | FeOp::ReadFF => s.full,
            FeOp::WriteEF(_) => !s.full,
        }
    }

    fn apply(s: &mut State, op: FeOp) -> Option<u64> {
        if !Self::can(s, op) {
            return None;
        }
        Some(match op {
            FeOp::ReadFE => {
                s.full = false;
                s.value
            }
            FeOp::ReadFF => s.value,
            FeOp::WriteEF(v) => {
                s.value = v;
                s.full = true;
                0
            }
        })
    }

    #[inline(always)]
    fn serve(s: &mut State, here: *const ()) {
        // SAFETY: a linked record is alive until unlinked; the caller holds the cell's lock.
        while let Some(first) = unsafe { s.head.as_ref() } {
            let Some(v) = Self::apply(s, first.op) else {
                break;
            };
            let (waker, slot) = (first.waker, first.slot);
            s.head = first.next;
            if s.head.is_null() {
                s.tail = ptr::null_mut();
            }
            // SAFETY: the slot lives in the frame of a chore parked on this cell, which stays
            // parked (and its frame alive) until the wake below.
            unsafe { *slot = v };
            waker.wake_from(here);
        }
    }
}
