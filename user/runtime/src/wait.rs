//! The suspension machinery every suspending class shares: a `Waker` (how a suspension record
//! names the chore to restart), the `Context` every caller of a lock or cell passes, and the
//! `Suspend` context that may be suspended (Table 1, enforced by which types implement it).
//!
//! Guarantees: a chore parks only while holding the wait-list lock that its waker must take to
//! find it, and that lock is released only after the chore is off its VP; so a wake can never
//! overtake the suspension it ends (no lost wake-up, no resuming a running chore).
//! Assumes: `Waker::wake` is called exactly once per park.

use crate::id::ChoreId;
use crate::sync::RawSpinGuard;

/// How a wait list restarts one suspended chore: a pointer and the function that makes the
/// chore it names ready again (on a VP: push it on its VP's ready list, or hand it the VP
/// directly when the waker runs on that VP: `Vp::hand_off`). The function's second argument
/// is the VP the waker runs on (`Park::here`), or null when unknown.
#[derive(Clone, Copy, Debug)]
pub struct Waker {
    data: *const (),
    /// Only loom models have wakers other than chores' (a thread's, `loom_ctx`); elsewhere
    /// every waker is a chore's (`Ctx::waker`), and the wake is a direct, inlined call.
    #[cfg(loom)]
    wake: unsafe fn(*const (), *const ()),
}

// SAFETY: a waker is a handle to a parked chore; whoever pops it from a wait list may wake it
// from any VP, which is what `wake`'s implementations are written for.
unsafe impl Send for Waker {}

impl Waker {
    /// # Safety
    /// `wake(data)` must be sound to call once from any thread while the chore is parked.
    #[cfg(loom)]
    pub(crate) unsafe fn new(data: *const (), wake: unsafe fn(*const (), *const ())) -> Waker {
        Waker { data, wake }
    }

    /// A parked chore's waker: `data` is its scheduling reference (`ctx::wake_chore`).
    ///
    /// # Safety
    /// As `new` with `wake_chore`.
    #[inline]
    pub(crate) unsafe fn for_chore(data: *const ()) -> Waker {
        Waker {
            data,
            #[cfg(loom)]
            wake: crate::ctx::wake_chore,
        }
    }

    /// Makes the parked chore ready. Consumes the waker: each park is ended by one wake.
    pub(crate) fn wake(self) {
        self.wake_from(core::ptr::null());
    }

    /// `wake`, by a waker running on VP `here` (`Park::here`; null if unknown): a chore parked
    /// on that same VP may be handed the VP directly instead of going through its run queue.
    #[inline]
    pub(crate) fn wake_from(self, here: *const ()) {
        // SAFETY: `new`'s contract; the waker was popped from the wait list its chore parked
        // on, so this is the one wake of that park.
        #[cfg(loom)]
        unsafe {
            (self.wake)(self.data, here)
        }
        // SAFETY: as above; outside loom models every waker is a chore's (`for_chore`).
        #[cfg(not(loom))]
        unsafe {
            crate::ctx::wake_chore(self.data, here)
        }
    }
}

pub(crate) mod private {
    use super::*;

    pub trait Sealed {}

    /// What the suspending classes need from a context; crate-private so only the runtime's
    /// own contexts can be suspended.
    pub trait Park {
        fn waker(&self) -> Waker;
        /// Suspends the caller until its waker is woken. `held` is the wait-list lock under
        /// which the caller enqueued its record; it is released once the caller is off its VP.
        fn park<T>(&mut self, held: RawSpinGuard<'_, T>);
        /// Whether spinning can help: not when the caller's VP is the task's only one, since
        /// whoever would release it cannot run until the caller gives up the VP.
        fn spin_can_help(&self) -> bool;
        /// Notes, for listings, the raw id of the lock holder the caller is about to wait for.
        fn waiting_for(&self, _holder: u64) {}
        /// The VP the caller runs on, for the wakes it makes (`Waker::wake_from`); null for a
        /// context that is not a chore on a VP.
        fn here(&self) -> *const () {
            core::ptr::null()
        }
    }

    /// The count of spin-only locks the caller holds; a suspension with any held is refused.
    pub trait SpinDepth {
        fn spin_depth(&self) -> &core::cell::Cell<u32>;
    }
}

/// Anything that may take a lock: every chore kind (all may spin).
pub trait Context: private::Sealed + private::SpinDepth {
    fn chore_id(&self) -> ChoreId;
}

/// A context that may be suspended: only the chore kinds Table 1 allows to suspend.
pub trait Suspend: Context + private::Park {}

/// How many times a suspending wait spins before it suspends.
pub(crate) fn spin_tries(ctx: &impl Suspend, limit: u32) -> u32 {
    if ctx.spin_can_help() {
        limit
    } else {
        0
    }
}

/// Panics when a chore would suspend while holding a spin-only lock: the seed forbids it
/// (section 6.1), and a suspended spin holder would stall every VP spinning on its lock.
#[inline]
pub(crate) fn check_no_spin_held(ctx: &impl Context) {
    let held = ctx.spin_depth().get();
    if held != 0 {
        suspend_refused(ctx.chore_id(), held);
    }
}

#[cold]
#[inline(never)]
fn suspend_refused(id: ChoreId, held: u32) -> ! {
    panic!("chore {id} would suspend holding {held} spin-only lock(s)")
}
