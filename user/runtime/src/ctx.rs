//! `Ctx<K>`: what a chore of kind `K` holds while it runs, the runtime's stand-in for the
//! seed's register that always points at the chore control block. Its kind decides, by type,
//! which waits it may make (Table 1, `kind.rs`).
//!
//! Guarantees: a `Ctx` is never `Send` and has no public constructor, so only the chore it
//! was made for uses it, on the VP it runs on.

use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::chore::{Chore, ChoreRef};
use crate::id::ChoreId;
use crate::kind::{ChoreKind, Driver, InKernelCall, Kind, MaySuspend};
use crate::notify::NonBlocking;
use crate::runtime::{JoinHandle, Shared, SpawnError};
use crate::sync::atomic::Ordering;
use crate::sync::RawSpinGuard;
use crate::trap::TrapTable;
use crate::wait::private::{Park, Sealed, SpinDepth};
use crate::wait::{check_no_spin_held, Context, Suspend, Waker};

pub struct Ctx<K: Kind> {
    chore: NonNull<Chore>,
    _kind: PhantomData<(K, *const ())>,
}

impl<K: Kind> core::fmt::Debug for Ctx<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Ctx<{}>({})", K::KIND, self.chore().id)
    }
}

impl<K: Kind> Ctx<K> {
    pub(crate) fn new(chore: NonNull<Chore>) -> Ctx<K> {
        Ctx {
            chore,
            _kind: PhantomData,
        }
    }

    fn chore(&self) -> &Chore {
        // SAFETY: a Ctx lives only while its chore runs, and a running chore is kept alive by
        // the VP's scheduling reference.
        unsafe { self.chore.as_ref() }
    }

    pub fn id(&self) -> ChoreId {
        self.chore().id
    }

    pub fn kind(&self) -> ChoreKind {
        K::KIND
    }

    /// The VP the chore is running on now.
    pub fn vp(&self) -> usize {
        self.chore().vp()
    }

    pub fn vps(&self) -> usize {
        self.chore().shared().vps.len()
    }

    /// Starts an ordinary chore on this VP (others may steal it).
    pub fn spawn<T, F>(&self, f: F) -> Result<JoinHandle<T>, SpawnError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Ctx<crate::kind::Ordinary>) -> T + Send + 'static,
    {
        self.spawn_kind::<crate::kind::Ordinary, T, F>(f)
    }

    /// Starts a driver chore (spin-only) on this VP.
    pub fn spawn_driver<T, F>(&self, f: F) -> Result<JoinHandle<T>, SpawnError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Ctx<Driver>) -> T + Send + 'static,
    {
        self.spawn_kind::<Driver, T, F>(f)
    }

    /// A spawn by a chore that may suspend and holds no spin-only lock, in a task of one VP,
    /// runs the new chore first: this chore waits in the VP's hand-off place and goes on when
    /// the new one first leaves the VP. Nothing runs in parallel on one VP, so this costs no
    /// parallelism, and a join that follows finds the chore done instead of suspending. With
    /// several VPs this chore goes on and the new one waits its turn where idle VPs can steal
    /// it (a bound chore run first would keep its VP from both).
    #[inline(always)]
    fn spawn_kind<C, T, F>(&self, f: F) -> Result<JoinHandle<T>, SpawnError>
    where
        C: Kind,
        T: Send + 'static,
        F: FnOnce(&mut Ctx<C>) -> T + Send + 'static,
    {
        let chore = self.chore();
        let (shared, home) = (chore.shared(), chore.on_vp());
        let (scheduled, handle) = shared.prepare_spawn::<C, T, F>(home, true, f)?;
        if K::MAY_SUSPEND && home.alone && chore.spin_depth.get() == 0 {
            // SAFETY: this chore runs on `home`, the task's only VP; it may suspend (its kind
            // says so) and holds no spin-only lock.
            unsafe { home.run_first(chore, scheduled) };
        } else {
            shared.schedule(home, true, scheduled);
        }
        Ok(handle)
    }

    /// Binds this chore to the VP it runs on now: idle VPs no longer steal it, so it runs
    /// there until it exits (as a chore waiting on its VP's kernel objects must).
    pub fn bind_to_vp(&self) {
        self.chore().bound.store(true, Ordering::Relaxed);
    }

    /// Replaces this chore's tertiary trap handlers.
    pub fn set_trap_table(&self, table: &'static TrapTable) {
        self.chore().traps.set(table);
    }
}

impl<K: MaySuspend> Ctx<K> {
    /// Gives the VP to the next ready chore; this one goes to the back of the run queue.
    /// Always inlined: left to the compiler, a change elsewhere in a program (the busy VP's
    /// notification look did it) can leave it out of line, a call and a frame on every yield
    /// (`chore_switch` 49.5 -> 55.0).
    #[inline(always)]
    pub fn yield_now(&mut self) {
        check_no_spin_held(self);
        let chore = self.chore();
        // SAFETY: this chore runs on its VP.
        unsafe { chore.on_vp().yield_chore(chore) };
    }

    /// The runtime's clock (ns), the one sleeps are measured on.
    pub fn now_ns(&self) -> u64 {
        self.chore().shared().idle.now_ns()
    }

    /// Suspends this chore (not its VP) until the clock reads at least `deadline`: it waits on
    /// its VP's alarm queue, whose expired entries the listener wakes.
    pub fn sleep_until(&mut self, deadline: u64) {
        check_no_spin_held(self);
        let chore = self.chore();
        // SAFETY: the runtime outlives its chores (`Chore::shared`); reached through a raw
        // pointer so that `self` can park while the alarm queue's lock is held.
        let shared = unsafe { &*(chore.shared() as *const Shared) };
        if shared.idle.now_ns() >= deadline {
            return;
        }
        let vp = &shared.vps[chore.vp()];
        let mut sleepers = vp.alarms.lock();
        sleepers.push(deadline, self.waker());
        vp.slept(&sleepers);
        self.park(sleepers);
    }

    pub fn sleep_for(&mut self, ns: u64) {
        let deadline = self.now_ns().saturating_add(ns);
        self.sleep_until(deadline);
    }

    /// Makes a kernel call that must not block the VP (seed 000 section 8): each time it would
    /// block, this chore is suspended until its notification arrives, then it is retried.
    pub fn call_nonblocking<N: NonBlocking>(&mut self, call: &mut N) -> N::Output {
        let shared: *const Shared = self.chore().shared();
        // SAFETY: the runtime outlives its chores (`Chore::shared`); the reference is taken
        // through a raw pointer so that `self` can be lent to the call.
        let shared = unsafe { &*shared };
        shared.notes.call(
            self,
            |c| c.vp(),
            |vp, waits| shared.vps[vp].awaits_notification(waits),
            call,
        )
    }

    /// Runs `f` as code inside a kernel call: it may only spin. The chore's own context is
    /// borrowed meanwhile, so `f` cannot suspend through it either.
    pub fn in_kernel_call<R>(&mut self, f: impl FnOnce(&mut Ctx<InKernelCall>) -> R) -> R {
        f(&mut Ctx::new(self.chore))
    }
}

impl<K: Kind> Sealed for Ctx<K> {}

impl<K: Kind> SpinDepth for Ctx<K> {
    fn spin_depth(&self) -> &Cell<u32> {
        &self.chore().spin_depth
    }
}

impl<K: Kind> Context for Ctx<K> {
    fn chore_id(&self) -> ChoreId {
        self.id()
    }
}

/// Wakes a parked chore: its restart request goes on the run queue of the VP it last ran on,
/// or, woken by a chore running on that same VP (`here`), the VP is handed to it directly.
#[inline]
pub(crate) unsafe fn wake_chore(data: *const (), here: *const ()) {
    // SAFETY: `data` is the parked chore's scheduling reference, given up in `park`
    // (`Vp::run_chore`), and this is its one wake.
    let chore = unsafe { ChoreRef::from_raw(NonNull::new_unchecked(data as *mut Chore)) };
    // No longer suspended (its park set this before its waker could find it).
    chore.waits_on.store(0, Ordering::Relaxed);
    let own = chore.on_vp();
    if core::ptr::eq(own as *const crate::vp::Vp as *const (), here) && own.may_hand_off(&chore) {
        // SAFETY: the runtime's VPs outlive its chores; `here` is the VP this thread runs
        // (`Park::here`), the chore's own, and `may_hand_off` allows it.
        unsafe { (*(own as *const crate::vp::Vp)).hand_off(chore) };
        return;
    }
    // SAFETY: the runtime and its VPs outlive its chores (`Chore::shared`); the reference
    // moves into the ready list below, so they are reached through raw pointers, not the chore.
    let (shared, vp) = unsafe {
        (
            &*(chore.shared() as *const Shared),
            &*(chore.on_vp() as *const crate::vp::Vp),
        )
    };
    let index = vp.index;
    if vp.make_ready(chore) {
        shared.idle.notify(index);
    }
}

impl<K: MaySuspend> Park for Ctx<K> {
    fn waker(&self) -> Waker {
        // SAFETY: `wake_chore` turns the pointer back into the scheduling reference the VP
        // gives up when this chore parks; the waker is woken once (it is popped to be woken).
        unsafe { Waker::for_chore(self.chore.as_ptr() as *const ()) }
    }

    #[inline]
    fn spin_can_help(&self) -> bool {
        !self.chore().on_vp().alone
    }

    #[inline]
    fn here(&self) -> *const () {
        self.chore().on_vp() as *const crate::vp::Vp as *const ()
    }

    #[inline(always)]
    fn park<T>(&mut self, held: RawSpinGuard<'_, T>) {
        let flag = held.leak_flag();
        let chore = self.chore();
        // Its state (Suspended) for listings, until its wake clears it.
        chore.waits_on.store(flag as usize, Ordering::Relaxed);
        // SAFETY: this chore runs on its VP, and `flag` is the leaked wait-list lock.
        unsafe { chore.on_vp().park(chore, flag) };
    }

    fn waiting_for(&self, holder: u64) {
        self.chore().waits_for.store(holder, Ordering::Relaxed);
    }
}

impl<K: MaySuspend> Suspend for Ctx<K> {}

/// Runs a fresh chore: its entry, then its exit. Never returns.
pub(crate) extern "C" fn chore_main(data: usize) -> ! {
    let ptr = NonNull::new(data as *mut Chore).unwrap_or_else(|| unreachable!());
    // SAFETY: `data` is the chore's own control block, alive while it runs.
    let chore = unsafe { ptr.as_ref() };
    if let Some(entry) = chore.entry.take() {
        // SAFETY: the entry was made for this chore's closure and result slot, and runs once.
        unsafe { entry(ptr) };
    }
    exit(chore)
}

/// Where a fault keeper resumes a VP to end the chore that faulted on it (`FaultedChore::kill`),
/// on the top of that chore's stack. What the chore's frames owned is leaked, not dropped:
/// they may be what broke.
pub(crate) extern "C" fn chore_killed(data: usize) -> ! {
    let ptr = NonNull::new(data as *mut Chore).unwrap_or_else(|| unreachable!());
    // SAFETY: the keeper passes the control block of the chore running on the VP it resumes.
    let chore = unsafe { ptr.as_ref() };
    chore.killed.store(true, Ordering::Release);
    chore.spin_depth.set(0);
    exit(chore)
}

fn exit(chore: &Chore) -> ! {
    chore
        .exited
        .store(true, crate::sync::atomic::Ordering::Release);
    let here = chore.on_vp() as *const crate::vp::Vp as *const ();
    let joiner = chore.joiner.lock().take();
    if let Some(joiner) = joiner {
        joiner.wake_from(here);
    }
    // SAFETY: this chore runs on its VP and has exited.
    unsafe { chore.on_vp().exit(chore) }
}

/// Where a chore's result waits for its join handle, in the chore's chunk. Whichever of the
/// chore (filing) and the handle (dropped unjoined) comes second drops an unclaimed result.
pub(crate) struct ResultSlot<T> {
    state: core::sync::atomic::AtomicU8,
    value: core::cell::UnsafeCell<core::mem::MaybeUninit<T>>,
}

const WAITING: u8 = 0;
const FILED: u8 = 1;
const ABANDONED: u8 = 2;
const TAKEN: u8 = 3;

impl<T> ResultSlot<T> {
    pub(crate) const fn new() -> ResultSlot<T> {
        ResultSlot {
            state: core::sync::atomic::AtomicU8::new(WAITING),
            value: core::cell::UnsafeCell::new(core::mem::MaybeUninit::uninit()),
        }
    }

    /// The chore's result (called once, by the chore).
    fn file(&self, v: T) {
        // SAFETY: only the chore writes the value, once, before publishing it as FILED.
        unsafe { (*self.value.get()).write(v) };
        let filed =
            self.state
                .compare_exchange(WAITING, FILED, Ordering::AcqRel, Ordering::Acquire);
        if filed.is_err() {
            // SAFETY: the handle is gone (ABANDONED): no one else will read the value.
            unsafe { (*self.value.get()).assume_init_drop() };
        }
    }

    /// The result, if filed and not yet taken (called by the handle only).
    pub(crate) fn take(&self) -> Option<T> {
        if self.state.load(Ordering::Acquire) != FILED {
            return None;
        }
        self.state.store(TAKEN, Ordering::Relaxed);
        // SAFETY: FILED: written by the chore (acquired above) and not yet read.
        Some(unsafe { (*self.value.get()).assume_init_read() })
    }

    /// The handle is dropped: drops a filed result, or tells the chore to drop it.
    pub(crate) fn abandon(&self) {
        let was =
            self.state
                .compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire);
        if was == Err(FILED) {
            drop(self.take());
        }
    }
}

/// The entry of a chore of kind `K` running an `F` returning a `T`: takes the closure from the
/// chunk and files its result in the chunk's result slot.
///
/// # Safety
/// `p`'s chunk must hold an `F` no one else reads at `closure_at::<T, F>` and a
/// `ResultSlot<T>` at `result_slot_at::<T>`.
pub(crate) unsafe fn entry_for<K, T, F>(p: NonNull<Chore>)
where
    K: Kind,
    F: FnOnce(&mut Ctx<K>) -> T,
{
    // SAFETY: the caller's contract: the closure is read out once.
    let f = unsafe { core::ptr::read(closure_at::<T, F>(p.as_ptr()) as *const F) };
    let value = f(&mut Ctx::<K>::new(p));
    // SAFETY: the caller's contract; the chore is running, so its chunk is alive.
    unsafe { &*(result_slot_at::<T>(p.as_ptr()) as *const ResultSlot<T>) }.file(value);
}

/// `at - size`, rounded down to `align`: the next place down in a chunk.
#[inline(always)]
pub(crate) const fn below(at: usize, size: usize, align: usize) -> usize {
    (at - size) & !(align - 1)
}

/// Where a chore returning a `T` has its result slot: just below its control block, at the
/// top of its chunk (written by `Shared::prepare_spawn`, so found again without a pointer).
#[inline(always)]
pub(crate) fn result_slot_at<T>(chore: *const Chore) -> usize {
    below(
        chore as usize,
        size_of::<ResultSlot<T>>(),
        align_of::<ResultSlot<T>>(),
    )
}

/// Where a chore returning a `T` has its closure `F`: just below its result slot.
#[inline(always)]
pub(crate) fn closure_at<T, F>(chore: *const Chore) -> usize {
    below(result_slot_at::<T>(chore), size_of::<F>(), align_of::<F>())
}
