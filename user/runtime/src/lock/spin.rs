//! Spin-only locks (section 6.1): for short critical sections; the caller busy-waits and never
//! suspends, so every chore kind may use one (Table 1).
//!
//! Guarantees: mutual exclusion; the cell holds the holder's id while held. No fairness (as the
//! seed says, a spinner may be overtaken indefinitely). While a chore holds one, any attempt to
//! suspend it panics (the seed forbids suspending with a spin lock held).

use core::cell::{Cell, UnsafeCell};
use core::ops::{Deref, DerefMut};

use crate::id::ChoreId;
use crate::sync::atomic::{spin_loop, AtomicU64, Ordering};
use crate::wait::Context;

pub struct SpinLock<T> {
    cell: AtomicU64,
    data: UnsafeCell<T>,
}

// SAFETY: `data` is reached only through a guard, which exists only while the cell is full.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves `T`, which is Send.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub fn new(value: T) -> Self {
        SpinLock {
            cell: AtomicU64::new(0),
            data: UnsafeCell::new(value),
        }
    }

    pub fn lock<'a>(&'a self, ctx: &'a impl Context) -> SpinGuard<'a, T> {
        let me = ctx.chore_id().raw();
        while self
            .cell
            .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.cell.load(Ordering::Relaxed) != 0 {
                spin_loop();
            }
        }
        let depth = ctx.spin_depth();
        depth.set(depth.get() + 1);
        SpinGuard { lock: self, depth }
    }

    /// The chore holding the lock, for debugging (the seed's reason for storing ids in cells).
    pub fn holder(&self) -> Option<ChoreId> {
        ChoreId::from_cell(self.cell.load(Ordering::Relaxed))
    }
}

pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    depth: &'a Cell<u32>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the cell is full with our id, so no other reference exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`, and `&mut self` makes this the only use.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.cell.store(0, Ordering::Release);
        self.depth.set(self.depth.get() - 1);
    }
}
