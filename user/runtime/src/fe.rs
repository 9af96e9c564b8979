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

/// An operation as a waiter's record keeps it: what the full bit must be for it to proceed,
/// what it leaves the bit, and whether it writes (the value travels in the record). Three
/// flags, so that serving a waiter tests them without a match on the operation.
#[derive(Clone, Copy)]
struct Access {
    needs_full: bool,
    leaves_full: bool,
    writes: bool,
}

impl Access {
    #[inline(always)]
    fn of(op: FeOp) -> (Access, u64) {
        match op {
            FeOp::ReadFE => (Access::new(true, false, false), 0),
            FeOp::ReadFF => (Access::new(true, true, false), 0),
            FeOp::WriteEF(v) => (Access::new(false, true, true), v),
        }
    }

    const fn new(needs_full: bool, leaves_full: bool, writes: bool) -> Access {
        Access {
            needs_full,
            leaves_full,
            writes,
        }
    }
}

/// A waiting chore's suspension record, in its frame in `suspend`.
struct FeWaiter {
    next: *mut FeWaiter,
    waker: Waker,
    access: Access,
    /// A writer's value; a reader's, once its server has handed it over.
    value: u64,
}

struct State {
    value: u64,
    full: bool,
    /// The first and last waiter's record (in the waiters' frames, alive until unlinked).
    head: *mut FeWaiter,
    tail: *mut FeWaiter,
}

// SAFETY: the records are reached only under the cell's lock, and a record's value is written
// by the chore that unlinks it, before the wake after which its waiter reads it.
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
        if !s.head.is_null() {
            Self::serve(&mut s, ptr::null());
        }
    }

    /// Leaves the cell empty (never waits).
    pub fn empty(&self) {
        let mut s = self.state.lock();
        s.full = false;
        if !s.head.is_null() {
            Self::serve(&mut s, ptr::null());
        }
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
        let (access, value) = Access::of(op);
        let here = ctx.here();
        for _ in 1..spin_tries(ctx, SPIN_RETRY_LIMIT) {
            let mut s = self.state.lock();
            if let Some(v) = Self::attempt_access(&mut s, access, value, here) {
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
        let (access, value) = Access::of(op);
        let mut record = FeWaiter {
            next: ptr::null_mut(),
            waker: ctx.waker(),
            access,
            value,
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
        // SAFETY: the server wrote the value through `r` before its wake, which our park ends.
        unsafe { (*r).value }
    }

    /// Performs `op` if the cell's state allows it now and no waiter is ahead of it; then
    /// serves the waiters the change lets proceed (waking them from VP `here`, if known).
    /// Returns the value read (0 for a write).
    #[inline(always)]
    fn attempt(s: &mut State, op: FeOp, here: *const ()) -> Option<u64> {
        let (access, value) = Access::of(op);
        Self::attempt_access(s, access, value, here)
    }

    /// `attempt` with the operation decoded (`Access::of`), for a loop of tries.
    #[inline(always)]
    fn attempt_access(s: &mut State, access: Access, value: u64, here: *const ()) -> Option<u64> {
        debug_assert!(
            // SAFETY: a linked record is alive; the caller holds the cell's lock.
            s.head.is_null() || s.full != unsafe { (*s.head).access.needs_full },
            "a full/empty cell left a waiter that could proceed"
        );
        let v = Self::apply(s, access, value)?;
        if !s.head.is_null() {
            Self::serve(s, here);
        }
        Some(v)
    }

    /// The access on the cell if its full bit allows it: the value read (a write's own).
    #[inline(always)]
    fn apply(s: &mut State, access: Access, value: u64) -> Option<u64> {
        if s.full != access.needs_full {
            return None;
        }
        s.full = access.leaves_full;
        if access.writes {
            s.value = value;
        }
        Some(s.value)
    }

    /// Serves waiters, first first, while the first can proceed. The caller has seen a waiter.
    #[inline(always)]
    fn serve(s: &mut State, here: *const ()) {
        let mut first = s.head;
        loop {
            // SAFETY: a linked record is alive until unlinked; the caller holds the cell's lock.
            let r = unsafe { &mut *first };
            let Some(v) = Self::apply(s, r.access, r.value) else {
                break;
            };
            let (waker, next) = (r.waker, r.next);
            // The record lives in the frame of a chore parked on this cell, which stays parked
            // (and its frame alive) until the wake below; a writer's record keeps its value.
            r.value = v;
            s.head = next;
            waker.wake_from(here);
            if next.is_null() {
                s.tail = ptr::null_mut();
                break;
            }
            first = next;
        }
    }
}
