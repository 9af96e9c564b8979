//! A loom thread standing in for a chore, so loom can explore the suspension protocols of the
//! locks, cells and channels (the same code chores run; only the park is a thread's wait).
//!
//! Guarantees: `park` releases the wait-list lock before waiting, as the listener does once a
//! chore is off its VP; a wake that comes at any point after that is seen.

use alloc::sync::Arc;
use core::cell::Cell;

use crate::id::ChoreId;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::RawSpinGuard;
use crate::wait::private::{Park, Sealed, SpinDepth};
use crate::wait::{Context, Suspend, Waker};

#[derive(Debug)]
pub struct ThreadCtx {
    id: ChoreId,
    woken: Arc<AtomicBool>,
    depth: Cell<u32>,
}

impl ThreadCtx {
    pub fn new(id: ChoreId) -> ThreadCtx {
        ThreadCtx { id, woken: Arc::new(AtomicBool::new(false)), depth: Cell::new(0) }
    }
}

unsafe fn wake_thread(data: *const ()) {
    // SAFETY: `data` is the parked thread's `woken` flag, kept alive by the thread's ThreadCtx
    // while it waits for this store.
    unsafe { (*(data as *const AtomicBool)).store(true, Ordering::Release) };
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
        // SAFETY: `wake_thread` only stores to the flag, which outlives the park.
        unsafe { Waker::new(Arc::as_ptr(&self.woken) as *const (), wake_thread) }
    }

    fn park<T>(&mut self, held: RawSpinGuard<'_, T>) {
        let flag = held.leak_flag();
        // SAFETY: the flag is the lock `held` guarded, still alive (its owner is borrowed by
        // our caller); storing false ends the hold the guard had.
        unsafe { (*flag).store(false, Ordering::Release) };
        while !self.woken.swap(false, Ordering::Acquire) {
            loom::thread::yield_now();
        }
    }
}

impl Suspend for ThreadCtx {}
