//! The raw spin lock that guards wait lists, ready lists, run queues and channel rings.
//!
//! Guarantees: mutual exclusion with acquire/release ordering; never suspends. Held only for a
//! few instructions, never across a chore switch except by the scheduler's post-switch release
//! (`vp.rs`), which is what closes the race between suspending and being woken.
//! Lock order: a `RawSpin` is always the innermost lock; at most one is held at a time,
//! except that a suspending chore's wait-list lock is still held while the scheduler takes
//! its own VP's run-queue lock (wait list, then run queue).

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

use super::atomic::{spin_loop, AtomicBool, Ordering};

/// A compare-and-swap spin lock around `T`.
pub struct RawSpin<T> {
    locked: AtomicBool,
    data: UnsafeCell<T>,
}

// SAFETY: `data` is reached only through a guard, and a guard exists only while `locked` is
// held, so at most one thread touches `data` at a time.
unsafe impl<T: Send> Sync for RawSpin<T> {}
// SAFETY: moving the lock moves `T`, which is Send.
unsafe impl<T: Send> Send for RawSpin<T> {}

impl<T> RawSpin<T> {
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        RawSpin {
            locked: AtomicBool::new(false),
            data: UnsafeCell::new(value),
        }
    }

    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        RawSpin {
            locked: AtomicBool::new(false),
            data: UnsafeCell::new(value),
        }
    }

    pub fn lock(&self) -> RawSpinGuard<'_, T> {
        while self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spin_loop();
        }
        RawSpinGuard { lock: self }
    }
}

pub struct RawSpinGuard<'a, T> {
    lock: &'a RawSpin<T>,
}

impl<T> RawSpinGuard<'_, T> {
    /// Gives up the guard without unlocking; whoever holds the flag must store `false` with
    /// Release to end the hold: the listener does, once a parking chore is off its VP.
    pub fn leak_flag(self) -> *const AtomicBool {
        let flag: *const AtomicBool = &self.lock.locked;
        core::mem::forget(self);
        flag
    }
}

impl<T> Deref for RawSpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held, so no other reference to `data` exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for RawSpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held, and `&mut self` makes this the only use.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for RawSpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}
