//! A loom thread standing in for a chore, so loom can explore the suspension protocols of the
//! locks, cells and channels (the same code chores run; only the park is a thread's wait).
//!
//! Guarantees: `park` releases the wait-list lock before waiting, as the listener does once a
//! chore is off its VP; a wake that comes at any point after that is seen.

use alloc::sync::Arc;
use core::cell::Cell;

use crate::id::ChoreId;
use crate::sync::atomic::Ordering;
use crate::sync::RawSpinGuard;
use crate::wait::private::{Park, Sealed, SpinDepth};
use crate::wait::{Context, Suspend, Waker};
use loom::sync::{Condvar, Mutex};

/// The parked thread's wake flag, behind a loom mutex and condition variable so loom sees
/// the wake happen before the park returns (a flag and `thread::park` alone let loom read a
/// stale flag after the unpark and report a deadlock that real threads cannot have).
struct Parked {
    woken: Mutex<bool>,
    cv: Condvar,
}

pub struct ThreadCtx {
    id: ChoreId,
    parked: Arc<Parked>,
    depth: Cell<u32>,
}

impl core::fmt::Debug for ThreadCtx {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ThreadCtx({})", self.id)
    }
}

impl ThreadCtx {
    /// A context for the calling loom thread.
    pub fn new(id: ChoreId) -> ThreadCtx {
        let parked = Parked {
            woken: Mutex::new(false),
            cv: Condvar::new(),
        };
        ThreadCtx {
            id,
            parked: Arc::new(parked),
            depth: Cell::new(0),
        }
    }
}

unsafe fn wake_thread(data: *const (), _here: *const ()) {
    // SAFETY: `data` is the parked thread's record, kept alive by its ThreadCtx while it waits.
    let parked = unsafe { &*(data as *const Parked) };
    *parked.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
    parked.cv.notify_one();
}

impl Sealed for ThreadCtx {}

impl SpinDepth for ThreadCtx {
    fn spin_depth(&self) -> &Cell<u32> {
        &self.depth
    }
}

impl Context for ThreadCtx {
    fn chore_id(&self) -> ChoreId {
        self.id
    }
}

impl Park for ThreadCtx {
    fn waker(&self) -> Waker {
        // SAFETY: `wake_thread` only touches the record, which outlives the park.
        unsafe { Waker::new(Arc::as_ptr(&self.parked) as *const (), wake_thread) }
    }

    fn spin_can_help(&self) -> bool {
        true
    }

    fn park<T>(&mut self, held: RawSpinGuard<'_, T>) {
        let flag = held.leak_flag();
        // SAFETY: the flag is the lock `held` guarded, still alive (its owner is borrowed by
        // our caller); storing false ends the hold the guard had.
        unsafe { (*flag).store(false, Ordering::Release) };
        let mut woken = self.parked.woken.lock().unwrap_or_else(|e| e.into_inner());
        while !*woken {
            woken = self
                .parked
                .cv
                .wait(woken)
                .unwrap_or_else(|e| e.into_inner());
        }
        *woken = false;
    }
}

impl Suspend for ThreadCtx {}

/// The task's notification table (`notify.rs`) for loom models of the SVC-notification loop.
pub struct NotifyTable(crate::notify::Notifications);

impl core::fmt::Debug for NotifyTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NotifyTable")
    }
}

impl Default for NotifyTable {
    fn default() -> Self {
        NotifyTable(crate::notify::Notifications::new())
    }
}

impl NotifyTable {
    /// `Ctx::call_nonblocking` for a thread standing in for a chore on VP 0.
    pub fn call<N: crate::notify::NonBlocking>(
        &self,
        ctx: &mut ThreadCtx,
        call: &mut N,
    ) -> N::Output {
        self.0.call(ctx, |_| 0, |_, _| {}, call)
    }

    /// `Runtime::deliver`.
    pub fn deliver(&self, word: u64) -> bool {
        self.0.deliver(word)
    }
}
