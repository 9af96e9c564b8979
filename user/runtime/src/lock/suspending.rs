//! The two suspending lock classes (section 6.1), each its own type so a lock has one protocol:
//! `SpinSuspendLock` spins up to a retry limit, then suspends (the seed's two-phase lock);
//! `ExplicitSuspendLock` suspends at once when the lock is held (long waits). Both need a
//! `Suspend` context, which only the kinds Table 1 lets suspend have.
//!
//! Guarantees: mutual exclusion; waiters get the lock in arrival order (the unlocker hands it to
//! the first waiter only); the cell shows the holder's id. A guard is released by the chore
//! that took it (it carries that id).

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

use super::cell::LockCell;
use crate::id::ChoreId;
use crate::wait::Suspend;

/// Spins before suspending: about the cost of a chore switch and back, so a short hold costs
/// no suspension. One under loom, where every spin is an interleaving to explore.
pub const SPIN_RETRY_LIMIT: u32 = if cfg!(loom) { 1 } else { 64 };

macro_rules! suspending_lock {
    ($(#[$doc:meta])* $lock:ident, $guard:ident, $retries:expr) => {
        $(#[$doc])*
        pub struct $lock<T> {
            cell: LockCell,
            data: UnsafeCell<T>,
        }

        // SAFETY: `data` is reached only through a guard, which exists only while the cell
        // holds the guard's chore id.
        unsafe impl<T: Send> Sync for $lock<T> {}
        // SAFETY: moving the lock moves `T`, which is Send.
        unsafe impl<T: Send> Send for $lock<T> {}

        impl<T> $lock<T> {
            pub fn new(value: T) -> Self {
                $lock { cell: LockCell::new(), data: UnsafeCell::new(value) }
            }

            pub fn lock<C: Suspend>(&self, ctx: &mut C) -> $guard<'_, T> {
                self.cell.acquire(ctx, $retries);
                $guard { lock: self, me: ctx.chore_id() }
            }

            pub fn try_lock<C: Suspend>(&self, ctx: &mut C) -> Option<$guard<'_, T>> {
                let me = ctx.chore_id();
                self.cell.try_acquire(me).then_some($guard { lock: self, me })
            }

            /// The chore holding the lock, for debugging.
            pub fn holder(&self) -> Option<ChoreId> {
                self.cell.holder()
            }

            /// Whether chores are suspended waiting for the lock (the cell's waiter flag).
            pub fn has_waiters(&self) -> bool {
                self.cell.has_waiters()
            }

            /// How many chores are suspended waiting for the lock.
            pub fn waiting(&self) -> usize {
                self.cell.waiting()
            }
        }

        pub struct $guard<'a, T> {
            lock: &'a $lock<T>,
            me: ChoreId,
        }

        // SAFETY: a guard may be released from another VP (the chore migrated); it only
        // touches the lock's atomics and wait list, which are shared by design.
        unsafe impl<T: Sync> Send for $guard<'_, T> {}

        impl<T> Deref for $guard<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                // SAFETY: the cell holds our id, so no other guard exists.
                unsafe { &*self.lock.data.get() }
            }
        }

        impl<T> DerefMut for $guard<'_, T> {
            fn deref_mut(&mut self) -> &mut T {
                // SAFETY: as for `deref`, and `&mut self` makes this the only use.
                unsafe { &mut *self.lock.data.get() }
            }
        }

        impl<T> Drop for $guard<'_, T> {
            fn drop(&mut self) {
                self.lock.cell.release(self.me);
            }
        }
    };
}

suspending_lock!(
    /// A two-phase lock: spin up to `SPIN_RETRY_LIMIT`, then suspend (waits of unknown length).
    SpinSuspendLock,
    SpinSuspendGuard,
    SPIN_RETRY_LIMIT
);

suspending_lock!(
    /// A lock for long waits: a chore that finds it held is suspended at once.
    ExplicitSuspendLock,
    ExplicitSuspendGuard,
    0
);
