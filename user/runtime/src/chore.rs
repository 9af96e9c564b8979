//! The chore control block (seed 000 section 3): id, kind, state, save area, stack chunk,
//! restart address and argument, tertiary trap-handler table, and the waker of its joiner.
//! A chore's control block lives at the top of its own stack chunk, above its closure and
//! result slot (`runtime::Shared::prepare_spawn`), so a spawn allocates nothing: the chunk pools are
//! the control-block pools. The listeners' control blocks are the VPs' own.
//!
//! Guarantees: the fields behind `UnsafeCell` are touched by one party at a time: the chore
//! itself while it runs, or the VP that switches to or from it; hand-over between VPs goes
//! through the run queue locks, which order the accesses. A chore's chunk goes back to a
//! pool only when its last reference (`ChoreRef`: scheduling or join handle) is dropped.

use core::cell::{Cell, UnsafeCell};
use core::ptr::NonNull;

use crate::id::ChoreId;
use crate::kind::ChoreKind;
use crate::runtime::Shared;
use crate::stack::StackChunk;
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Where a fresh chore's first run starts (`Chore::init`).
pub(crate) struct Start {
    pub(crate) entry: Entry,
    pub(crate) vp: *const crate::vp::Vp,
    pub(crate) save: usize,
    pub(crate) stack: StackChunk,
    pub(crate) top: usize,
}
use crate::sync::RawSpin;
use crate::trap::TrapTable;
use crate::wait::Waker;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum ChoreState {
    Ready = 0,
    Running = 1,
    Suspended = 2,
    Done = 3,
}

impl ChoreState {
    pub fn name(self) -> &'static str {
        match self {
            ChoreState::Ready => "ready",
            ChoreState::Running => "running",
            ChoreState::Suspended => "suspended",
            ChoreState::Done => "done",
        }
    }
}

/// The body a chore runs first: it takes the closure from the chunk, builds the chore's `Ctx`
/// of the right kind, runs it and files the result.
pub(crate) type Entry = unsafe fn(NonNull<Chore>);

pub struct Chore {
    pub(crate) id: ChoreId,
    pub(crate) kind: ChoreKind,
    /// The task's runtime, which outlives every chore that runs in it.
    shared: *const Shared,
    /// The VP the chore runs on or last ran on: the one whose ready list restarts it. A
    /// pointer, not an index, so the switch paths reach it in one load (the VPs live in the
    /// runtime's boxed slice, which never moves while a chore runs).
    /// Stored only by a thief, which has just taken the chore off a run queue (and by
    /// spawn); read atomically by a listing, and without synchronizing by the threads that
    /// may find the chore while no thief can (`on_vp`). A core atomic even under loom, for
    /// `as_ptr`.
    pub(crate) vp: core::sync::atomic::AtomicPtr<crate::vp::Vp>,
    /// The save area: the saved stack pointer (the registers are saved on the chore's stack),
    /// or `vp::PENDING` while the chore switches away. A core atomic even under loom: the
    /// switch's assembly stores to it.
    pub(crate) save: core::sync::atomic::AtomicUsize,
    pub(crate) stack: UnsafeCell<Option<StackChunk>>,
    /// Its first run's body; the closure and result slot it uses sit just below the control
    /// block in the chunk (`ctx::closure_at`, `ctx::result_slot_at`).
    pub(crate) entry: Cell<Option<Entry>>,
    /// Scheduling and join references (`ChoreRef`); the chunk is freed at zero. Zero also
    /// tells the task's listing (`Runtime::chores`), which reads the control blocks in every
    /// chunk, that the block is no chore's: only atomic operations ever touch it, so that
    /// the listing may read it in any chunk at any time (a core atomic even under loom, as
    /// it is read in memory where no value was ever constructed).
    refs: core::sync::atomic::AtomicUsize,
    /// The top of its stack (below the control block, result slot and closure).
    pub(crate) top: Cell<usize>,
    pub(crate) traps: Cell<&'static TrapTable>,
    pub(crate) spin_depth: Cell<u32>,
    pub(crate) exited: AtomicBool,
    /// Bound to the VP it runs on: never stolen (`Ctx::bind_to_vp`).
    pub(crate) bound: AtomicBool,
    /// Ended by its fault keeper: it has no result.
    pub(crate) killed: AtomicBool,
    /// While suspended: the address of the wait list it is on (for listings, and its state:
    /// set by its park, cleared by its wake).
    pub(crate) waits_on: AtomicUsize,
    /// While suspended on a lock: the raw id of the lock's holder when it suspended (read
    /// only while `waits_on` is set; cleared by the lock's waiter once it runs again).
    pub(crate) waits_for: AtomicU64,
    /// The next chore on the run queue it is on (under that queue's lock; stale at the tail),
    /// or, once it is gone, the next dead chore in its VP's own free chunks.
    pub(crate) run_next: Cell<*const Chore>,
    /// Protects the waker of the chore waiting in `join` for this one to exit (one at most:
    /// the join handle is not `Clone`, and `join` consumes it). Taken after `exited` is set,
    /// so a joiner that finds `exited` false under it is woken by the exit.
    pub(crate) joiner: RawSpin<Option<Waker>>,
}

// SAFETY: see the module's guarantee: the cells are used by one VP at a time, handed over
// under the scheduler's locks.
unsafe impl Sync for Chore {}
// SAFETY: as above; the stack chunk and entry move with the chore.
unsafe impl Send for Chore {}

impl Chore {
    /// A VP's listener's control block (the VP's own loop runs in it).
    pub(crate) fn listener(shared: *const Shared, id: ChoreId) -> Chore {
        Chore {
            id,
            kind: ChoreKind::Listener,
            shared,
            vp: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
            save: core::sync::atomic::AtomicUsize::new(crate::vp::PENDING),
            stack: UnsafeCell::new(None),
            entry: Cell::new(None),
            refs: core::sync::atomic::AtomicUsize::new(0),
            top: Cell::new(0),
            traps: Cell::new(&crate::trap::DEFAULT_TRAPS),
            spin_depth: Cell::new(0),
            exited: AtomicBool::new(false),
            bound: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            waits_on: AtomicUsize::new(0),
            waits_for: AtomicU64::new(0),
            run_next: Cell::new(core::ptr::null()),
            joiner: RawSpin::new(None),
        }
    }

    /// Writes a fresh chore's control block at `p`, field by field and each once, with its
    /// first two references (`ChoreRef::first_two`) stored last: `refs` is never written
    /// but atomically (see the field), and its store publishes the rest to a listing that
    /// reads it. `run_next` and `waits_for` are left as they are: each is written before it
    /// is read.
    ///
    /// # Safety
    /// `p` must be the control block's place at the top of `start.stack`, a chunk the caller
    /// owns, whose memory holds zeroes or a gone chore's control block (`refs` zero), aligned
    /// for a `Chore`.
    #[inline(always)]
    pub(crate) unsafe fn init(
        p: *mut Chore,
        shared: *const Shared,
        id: ChoreId,
        kind: ChoreKind,
        start: Start,
    ) {
        use core::ptr::addr_of_mut;
        // SAFETY: the caller's contract: the place is ours, aligned, and no one else reads
        // these fields while `refs` is zero.
        unsafe {
            addr_of_mut!((*p).id).write(id);
            addr_of_mut!((*p).kind).write(kind);
            addr_of_mut!((*p).shared).write(shared);
            addr_of_mut!((*p).vp).write(core::sync::atomic::AtomicPtr::new(start.vp.cast_mut()));
            addr_of_mut!((*p).save).write(core::sync::atomic::AtomicUsize::new(start.save));
            addr_of_mut!((*p).stack).write(UnsafeCell::new(Some(start.stack)));
            addr_of_mut!((*p).entry).write(Cell::new(Some(start.entry)));
            addr_of_mut!((*p).top).write(Cell::new(start.top));
            addr_of_mut!((*p).traps).write(Cell::new(&crate::trap::DEFAULT_TRAPS));
            addr_of_mut!((*p).spin_depth).write(Cell::new(0));
            addr_of_mut!((*p).exited).write(AtomicBool::new(false));
            addr_of_mut!((*p).bound).write(AtomicBool::new(false));
            addr_of_mut!((*p).killed).write(AtomicBool::new(false));
            addr_of_mut!((*p).waits_on).write(AtomicUsize::new(0));
            addr_of_mut!((*p).joiner).write(RawSpin::new(None));
            (*p).refs.store(2, Ordering::Release);
        }
    }

    pub fn id(&self) -> ChoreId {
        self.id
    }

    pub fn kind(&self) -> ChoreKind {
        self.kind
    }

    /// Derived, so the switch paths store no state: Done once exited, Suspended while on a
    /// wait list, Running while its VP runs it (a listener always counts as running), else
    /// Ready.
    pub fn state(&self) -> ChoreState {
        if self.exited.load(Ordering::Acquire) {
            return ChoreState::Done;
        }
        if self.kind == ChoreKind::Listener {
            return ChoreState::Running;
        }
        if self.waits_on.load(Ordering::Acquire) != 0 {
            return ChoreState::Suspended;
        }
        let vp = self.vp.load(Ordering::Relaxed);
        // SAFETY: a non-null `vp` is a VP of the runtime, which outlives its chores.
        let on = unsafe { vp.as_ref() }
            .is_some_and(|vp| core::ptr::eq(vp.on_vp.load(Ordering::Acquire), self));
        if on {
            ChoreState::Running
        } else {
            ChoreState::Ready
        }
    }

    #[inline]
    pub(crate) fn shared(&self) -> &Shared {
        // SAFETY: chores run only while a `Runtime` (which holds `Shared`) runs their VPs.
        unsafe { &*self.shared }
    }

    /// The restart address and argument a fresh chore starts with (a listener has none): the
    /// same for every chore, so computed, not stored.
    pub fn restart(&self) -> (usize, usize) {
        if self.kind == ChoreKind::Listener {
            return (0, 0);
        }
        (
            crate::ctx::chore_main as *const () as usize,
            self as *const Chore as usize,
        )
    }

    #[inline]
    /// The VP it runs on or last ran on (read atomically: for any thread, a listing's too).
    pub fn vp(&self) -> usize {
        // SAFETY: set (by spawn or the runtime's start) before the chore is reachable, to a VP
        // of the runtime, which outlives its chores (`shared`).
        unsafe { (*self.vp.load(Ordering::Relaxed)).index }
    }

    /// The VP it runs on or last ran on, for the chore itself while it runs, the VP that
    /// switches it, a waker of it while it is parked, or its last reference: a plain load
    /// (so the switch paths read it once, not at every use). No thief can store `vp` then:
    /// a thief takes only a chore on a run queue, and those callers either run it, or hold
    /// it parked or gone; a listing, which may look at any time, uses `vp()`.
    #[inline]
    pub(crate) fn on_vp(&self) -> &crate::vp::Vp {
        // SAFETY: as above, no store races with this load; and `vp` is set before the chore
        // is reachable, to a VP of the runtime, which outlives its chores (`shared`).
        unsafe { &**self.vp.as_ptr() }
    }

    pub fn was_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// A snapshot for listings (the shell's `chores`).
    pub fn info(&self) -> ChoreInfo {
        let on = self.waits_on.load(Ordering::Relaxed);
        ChoreInfo {
            id: self.id,
            kind: self.kind,
            state: self.state(),
            vp: self.vp(),
            waits_on: (on != 0).then_some(on),
            waits_for: if on != 0 {
                ChoreId::from_cell(self.waits_for.load(Ordering::Relaxed))
            } else {
                None
            },
        }
    }
}

/// What a listing shows of a chore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChoreInfo {
    pub id: ChoreId,
    pub kind: ChoreKind,
    pub state: ChoreState,
    /// The VP it runs on or last ran on.
    pub vp: usize,
    /// While suspended: the address of the wait list (lock, cell, queue, channel) it is on.
    pub waits_on: Option<usize>,
    /// While suspended on a lock: who held the lock when it suspended.
    pub waits_for: Option<ChoreId>,
}

impl core::fmt::Display for ChoreInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (id, kind) = (
            alloc::format!("{}", self.id),
            alloc::format!("{}", self.kind),
        );
        write!(
            f,
            "{id:<10} {kind:<12} {:<10} VP {}",
            self.state.name(),
            self.vp
        )?;
        match (self.waits_on, self.waits_for) {
            (Some(on), Some(holder)) => write!(f, "  waits for lock {on:#x} held by {holder}"),
            (Some(on), None) => write!(f, "  waits on {on:#x}"),
            _ => Ok(()),
        }
    }
}

/// One reference to a chore: a scheduling reference (held by a run queue, the VP running
/// it, or a parked chore's waker: whoever may run or restart it) or its join handle's.
pub(crate) struct ChoreRef(NonNull<Chore>);

// SAFETY: a ChoreRef is one counted reference to a Chore, which is Send + Sync.
unsafe impl Send for ChoreRef {}

impl ChoreRef {
    /// The first two references to a fresh chore (its scheduling reference and its join
    /// handle's), which `Chore::init` counted.
    ///
    /// # Safety
    /// `p` must point at a fresh chore no reference names yet, whose chunk is its `stack`.
    #[inline]
    pub(crate) unsafe fn first_two(p: NonNull<Chore>) -> (ChoreRef, ChoreRef) {
        (ChoreRef(p), ChoreRef(p))
    }

    /// Gives up the reference without dropping it: a parked chore's waker now holds it.
    pub(crate) fn into_raw(self) -> NonNull<Chore> {
        let p = self.0;
        core::mem::forget(self);
        p
    }

    /// # Safety
    /// `p` must come from `into_raw`, and be turned back into a reference once.
    pub(crate) unsafe fn from_raw(p: NonNull<Chore>) -> ChoreRef {
        ChoreRef(p)
    }
}

impl ChoreRef {
    /// A reference to the chore whose control block is at `p`, if it is one (counts a
    /// reference): for the task's listing, which looks at every chunk's control block place.
    ///
    /// # Safety
    /// `p` must be the control block place at the top of a chunk of the task's, mapped while
    /// the call runs, holding zeroes or a control block written by `Chore::init`.
    pub(crate) unsafe fn to_listed(p: *const Chore) -> Option<ChoreRef> {
        // SAFETY: the caller's contract; `refs` is only ever touched atomically.
        let refs = unsafe { &(*p).refs };
        let mut n = refs.load(Ordering::Relaxed);
        loop {
            if n == 0 {
                return None;
            }
            match refs.compare_exchange_weak(n, n + 1, Ordering::Acquire, Ordering::Relaxed) {
                // SAFETY: counted: the chore and its chunk stay until this reference goes.
                Ok(_) => return Some(ChoreRef(unsafe { NonNull::new_unchecked(p.cast_mut()) })),
                Err(now) => n = now,
            }
        }
    }
}

impl core::ops::Deref for ChoreRef {
    type Target = Chore;
    #[inline]
    fn deref(&self) -> &Chore {
        // SAFETY: the count this reference holds keeps the chore (and its chunk) alive.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for ChoreRef {
    #[inline]
    fn drop(&mut self) {
        if self.refs.fetch_sub(1, Ordering::Release) == 1 {
            self.free_chunk(core::ptr::null());
        }
    }
}

impl ChoreRef {
    /// Drops the reference on VP `here`'s thread (`Park::here`): a chunk freed there by the
    /// last reference stays among that VP's own free chunks if it is the chore's.
    #[inline]
    pub(crate) fn release_from(self, here: *const ()) {
        let last = self.refs.fetch_sub(1, Ordering::Release) == 1;
        let mut me = core::mem::ManuallyDrop::new(self);
        if last {
            me.free_chunk(here);
        }
    }

    /// The last reference is gone: the chunk (and the control block in it) goes back to the
    /// VP the chore last ran on.
    #[inline]
    fn free_chunk(&mut self, here: *const ()) {
        core::sync::atomic::fence(Ordering::Acquire);
        let chore: &Chore = self;
        // SAFETY: the last reference: no one else can reach the chore; `here` is the caller's
        // VP or null (`release_from`).
        unsafe { chore.on_vp().free_stack(chore, here) };
    }
}

impl Chore {
    /// Hands a fault of this chore to its tertiary handler table (the fault keeper's step
    /// after saving the chore's state).
    pub fn dispatch_trap(&self, trap: &mut crate::trap::Trap) -> crate::trap::TrapOutcome {
        self.traps.get().dispatch(self.id, trap)
    }
}
