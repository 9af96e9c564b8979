//! A virtual processor: a run queue (owner pops the front, thieves steal from the back), a
//! remote-action queue, a stack pool, and the listener context the VP's own loop runs in
//! (seed 000 section 7). A woken chore's restart request goes straight onto its VP's run
//! queue: the waker does the listener's restart work, so a hand-off on one VP is one switch;
//! and a chore woken (or spawned) by a chore running on its own VP, which no other VP could
//! run, is handed the VP directly (`hand_off`): no run-queue lock, no push and pop.
//!
//! Guarantees: a chore that leaves the VP (yield, park, exit) switches straight to the next
//! runnable chore, or to the listener when the listener has work or nothing else is runnable.
//! A chore may be made runnable (yield, wake) before its registers are saved: its save area
//! reads `PENDING` until `switch` stores its stack pointer, and whoever resumes it waits for
//! that store (`install`). An exited chore's stack goes back to the pool only once it is off
//! the VP (`retire_exited`, run by `exit_switch` on the stack it resumes).
//! Lock order: a suspending chore's wait-list lock, then a VP's run queue; the remote queue is
//! taken alone.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::cell::UnsafeCell;

use crate::alarm_queue::AlarmQueue;
use crate::chore::{Chore, ChoreRef};
use crate::ctx::Ctx;
use crate::kind::Listener;
use crate::run_queue::RunQueue;
use crate::stack::{StackChunk, StackPool, StackProvider};
use crate::switch::{exit_switch, switch};
use crate::sync::atomic::{spin_loop, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::sync::RawSpin;

pub(crate) type RemoteAction = Box<dyn FnOnce(&mut Ctx<Listener>) + Send>;

/// A save area's value while its chore is runnable but still switching away.
pub(crate) const PENDING: usize = 0;

/// How often a busy VP looks for the notifications its waiting chores expect (`Idle::poll`):
/// it bounds how late one is delivered when the VP never idles.
pub const NOTE_POLL_NS: u64 = 1_000_000;

/// A VP's look for the notifications its waiting chores expect while it is busy.
#[derive(Default)]
pub(crate) struct NoteLook {
    /// Chores waiting for a notification POSTed to the VP's endpoint.
    waiters: AtomicUsize,
    /// When the listener next looks for them, if the VP is still busy.
    next_ns: AtomicU64,
}

/// State only the thread running this VP touches. The running chore's scheduling reference
/// is held by the VP implicitly (given up by `install`, taken back as the chore leaves), so
/// a switch keeps no record of it.
struct Local {
    /// The chore handed the VP directly (`hand_off`): it runs next, ahead of the run queue.
    /// While it is there `duties` counts one more, so the switch paths' one-word check sends
    /// them to `take_handed` and costs nothing when no hand-off is pending.
    next: Option<ChoreRef>,
    /// Hand-offs left before the run queue's turn: counted down by each chore put in `next`;
    /// the hand-off that finds it at zero sends its chore to the run queue's back instead (and
    /// starts the count again), so the next pick serves the run queue's front: two chores
    /// handing the VP to each other cannot keep the queued ones (or the listener) waiting
    /// for ever. A count down, so that a hand-off tests and counts in one instruction.
    handoffs_left: u32,
}

/// How many free chunks a VP keeps for itself, outside its pool's lock.
const HOT_CHUNKS: usize = 16;

/// A VP's own free chunks: the control blocks of chores that are gone, linked through
/// `run_next` (no run queue holds a dead chore), each still holding its chunk in `stack`.
struct DeadChores {
    first: *const Chore,
    len: usize,
}

impl DeadChores {
    /// The chunk of the most recently freed one.
    #[inline]
    fn pop(&mut self) -> Option<StackChunk> {
        // SAFETY: a listed control block is dead, in a chunk only this list owns.
        let dead = unsafe { self.first.as_ref()? };
        self.first = dead.run_next.get();
        self.len -= 1;
        // SAFETY: as above: no one else reads the dead chore's fields.
        unsafe { (*dead.stack.get()).take() }
    }
}

/// How many direct hand-offs a VP makes before the run queue has its turn again.
pub(crate) const HANDOFF_LIMIT: u32 = 16;

pub(crate) struct Vp {
    pub(crate) index: usize,
    /// Protects the VP's runnable chores (the seed's ready list: woken chores join it).
    pub(crate) run: RawSpin<RunQueue>,
    /// Remote actions posted and not yet taken by the listener.
    remote_requests: AtomicUsize,
    /// Remote actions not yet taken, chores sleeping here, chores waiting for a notification
    /// to this VP and a pending hand-off (`Local::next`): the one word a switch reads to learn
    /// it must look further than the run queue's front.
    duties: AtomicUsize,
    /// Protects the remote actions other VPs asked this VP's listener to run.
    remote: RawSpin<VecDeque<RemoteAction>>,
    /// Protects the VP's stack pool: its refills, its emergency reserve, and the chunks
    /// returned from other threads (contended only by those).
    pub(crate) stacks: RawSpin<StackPool>,
    /// Free chunks that only this VP's thread takes and returns, without a lock: a spawn
    /// here takes one, and a chore's chunk freed here comes back (`take_stack`, `free_stack`).
    /// Each is kept as the dead control block at its top, which still holds the chunk.
    hot: UnsafeCell<DeadChores>,
    /// Whether the pool's emergency reserve is short, so that freed chunks go to the pool,
    /// which refills it first (stored under the pool's lock; read without it).
    reserve_short: AtomicBool,
    pub(crate) listener: Box<Chore>,
    /// Chores sleeping until a deadline; the listener wakes the expired ones.
    pub(crate) alarms: AlarmQueue,
    /// The chore running now (the listener's when none), for a fault keeper that reads it
    /// while the VP is stopped in a fault.
    pub(crate) on_vp: AtomicPtr<Chore>,
    /// The VP found nothing to run or steal and is about to idle (or idles): a spawn anywhere
    /// wakes it to steal, and a chore made ready on it wakes it (only then: `enqueue`).
    pub(crate) idling: AtomicBool,
    /// The task's only VP: no thief can take its chores, so any of them may be handed it.
    pub(crate) alone: bool,
    running: AtomicBool,
    local: UnsafeCell<Local>,
}

// SAFETY: `local` is touched only by the one thread running this VP (`enter` refuses a second)
// and by chores while they run on it; everything else is behind a lock or atomic.
unsafe impl Sync for Vp {}
// SAFETY: as above.
unsafe impl Send for Vp {}

impl Vp {
    pub(crate) fn new(index: usize, alone: bool, listener: Chore, stacks: StackPool) -> Vp {
        Vp {
            index,
            run: RawSpin::new(RunQueue::new()),
            remote_requests: AtomicUsize::new(0),
            duties: AtomicUsize::new(0),
            remote: RawSpin::new(VecDeque::new()),
            stacks: RawSpin::new(stacks),
            hot: UnsafeCell::new(DeadChores {
                first: core::ptr::null(),
                len: 0,
            }),
            reserve_short: AtomicBool::new(false),
            listener: Box::new(listener),
            alarms: AlarmQueue::new(),
            on_vp: AtomicPtr::new(core::ptr::null_mut()),
            idling: AtomicBool::new(false),
            alone,
            running: AtomicBool::new(false),
            local: UnsafeCell::new(Local {
                next: None,
                handoffs_left: HANDOFF_LIMIT - 1,
            }),
        }
    }

    /// A stack chunk for a chore spawned on this VP: from the VP's own free chunks when the
    /// spawn runs on this VP's thread (`on_this_vp`), else from the pool (which refills from
    /// `provider`, or falls back on its reserve).
    #[inline]
    pub(crate) fn take_stack(
        &self,
        on_this_vp: bool,
        provider: &dyn StackProvider,
    ) -> Option<StackChunk> {
        if on_this_vp {
            // SAFETY: only this VP's thread touches `hot`, and the caller says it is on it.
            if let Some(chunk) = unsafe { (*self.hot.get()).pop() } {
                return Some(chunk);
            }
        }
        self.take_pooled(provider)
    }

    #[inline(never)]
    fn take_pooled(&self, provider: &dyn StackProvider) -> Option<StackChunk> {
        let mut pool = self.stacks.lock();
        let chunk = pool.take(provider);
        self.reserve_short
            .store(pool.reserve_short(), Ordering::Relaxed);
        chunk
    }

    /// Frees the chunk of `dead`, a chore that last ran here and that no reference names
    /// any more, on VP `here`'s thread (null if unknown): kept among this VP's own free
    /// chunks, as it is, when that is this VP and its reserve is full, else returned to the
    /// pool.
    ///
    /// # Safety
    /// No reference to `dead` may remain; `here` must be the VP whose thread calls, or null.
    #[inline]
    pub(crate) unsafe fn free_stack(&self, dead: &Chore, here: *const ()) {
        if core::ptr::eq(self as *const Vp as *const (), here)
            && !self.reserve_short.load(Ordering::Relaxed)
        {
            // SAFETY: only this VP's thread touches `hot`, and `here` says we are on it.
            let hot = unsafe { &mut *self.hot.get() };
            if hot.len < HOT_CHUNKS {
                dead.run_next.set(hot.first);
                hot.first = dead;
                hot.len += 1;
                return;
            }
        }
        // SAFETY: the caller's contract: the chunk (holding `dead`) is read out before it is
        // given back.
        if let Some(chunk) = unsafe { (*dead.stack.get()).take() } {
            self.give_pooled(chunk);
        }
    }

    #[inline(never)]
    pub(crate) fn give_pooled(&self, chunk: StackChunk) {
        let mut pool = self.stacks.lock();
        pool.give(chunk);
        self.reserve_short
            .store(pool.reserve_short(), Ordering::Relaxed);
    }

    /// The VP's own free chunks, for the provider (the runtime is going away).
    ///
    /// # Panics
    /// If a thread still runs the VP.
    pub(crate) fn drain_hot(&self) -> impl Iterator<Item = StackChunk> + '_ {
        assert!(
            self.enter(),
            "the stacks of VP {} released while it runs",
            self.index
        );
        // SAFETY: claimed just above: no thread runs the VP, so none touches `hot`.
        let hot = unsafe { &mut *self.hot.get() };
        let chunks = core::iter::from_fn(|| hot.pop()).collect::<alloc::vec::Vec<_>>();
        self.leave();
        chunks.into_iter()
    }

    /// Claims the VP for the calling thread; false if another thread already runs it.
    pub(crate) fn enter(&self) -> bool {
        self.running
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    pub(crate) fn leave(&self) {
        self.running.store(false, Ordering::Release);
    }

    /// Counts the chore that just went to sleep on this VP's alarm queue (whose lock the caller
    /// still holds in `sleepers`).
    pub(crate) fn slept(&self, sleepers: &crate::alarm_queue::Sleepers) {
        self.alarms.added(sleepers);
        self.duties.fetch_add(1, Ordering::Release);
    }

    /// A chore starts (`waits`) or stops waiting for a notification to this VP's endpoint
    /// (called from any VP). The first starts the clock of the VP's next look.
    pub(crate) fn awaits_notification(&self, waits: bool) {
        let look = self.look();
        if waits {
            if look.waiters.fetch_add(1, Ordering::AcqRel) == 0 {
                let now = self.listener.shared().idle.now_ns();
                look.next_ns.store(now + NOTE_POLL_NS, Ordering::Relaxed);
            }
            self.duties.fetch_add(1, Ordering::Release);
        } else {
            look.waiters.fetch_sub(1, Ordering::AcqRel);
            self.duties.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// This VP's look for notifications (kept beside the runtime's VPs, not in them: the
    /// switch paths read the VP's fields, and are best left with the layout they were tuned
    /// on).
    fn look(&self) -> &NoteLook {
        &self.listener.shared().looks[self.index]
    }

    /// Whether a look for notifications is due: a chore waits for one and the VP has not
    /// looked for `NOTE_POLL_NS` (the clock is read only while one waits).
    fn poll_due(&self, now: impl Fn() -> u64) -> bool {
        let look = self.look();
        look.waiters.load(Ordering::Acquire) != 0 && now() >= look.next_ns.load(Ordering::Relaxed)
    }

    /// A woken chore's restart request (called from any VP): it joins the run queue. Returns
    /// whether the VP idles (or is about to), and so must be told (`Idle::notify`).
    #[inline]
    pub(crate) fn make_ready(&self, chore: ChoreRef) -> bool {
        self.enqueue(chore)
    }

    /// Puts a runnable chore at the back of the run queue; whether the VP idles. The flag is
    /// read under the queue's lock, and a VP about to idle sets it before it looks at its
    /// queue under that lock (`Runtime::run_vp`): so either the VP finds the chore, or this
    /// sees the flag. A busy VP is not notified (in ring 3 a notification is a kernel POST).
    #[inline]
    pub(crate) fn enqueue(&self, chore: ChoreRef) -> bool {
        let mut run = self.run.lock();
        run.push_back(chore);
        self.idling.load(Ordering::Relaxed)
    }

    /// Whether a chore of this VP made runnable by a waker running here may be handed the VP
    /// directly (`hand_off`): only one no other VP could run anyway, the task's only VP's or
    /// one bound here; an unbound chore of a VP among several goes where thieves see it.
    #[inline]
    pub(crate) fn may_hand_off(&self, chore: &Chore) -> bool {
        self.alone || chore.bound.load(Ordering::Relaxed)
    }

    /// A chore made runnable by the chore running on this VP (a wake or a spawn): it runs
    /// next, ahead of the run queue, with no lock taken, unless another is already to run
    /// next or the run queue's turn has come (`HANDOFF_LIMIT`): then it joins the back of the
    /// run queue (in both cases after the chores already made runnable).
    ///
    /// # Safety
    /// Must be called on the thread running this VP (by a chore or the listener running on
    /// it), for a chore that names this VP and `may_hand_off` allows.
    #[inline]
    pub(crate) unsafe fn hand_off(&self, chore: ChoreRef) {
        // SAFETY: the caller's contract: we are this VP's thread.
        let local = unsafe { &mut *self.local.get() };
        if local.next.is_none() {
            local.handoffs_left = local.handoffs_left.wrapping_sub(1);
            if local.handoffs_left != u32::MAX {
                local.next = Some(chore);
                // Only this thread takes the count back (`take_handed`), in program order.
                self.duties.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // The run queue's turn: this chore goes behind it.
            local.handoffs_left = HANDOFF_LIMIT - 1;
        }
        // The VP runs a chore, so it does not idle: no notification.
        self.run.lock().push_back(chore);
    }

    /// The chore handed the VP, if any.
    ///
    /// # Safety
    /// Must be called on the thread running this VP.
    #[inline]
    unsafe fn take_handed(&self) -> Option<ChoreRef> {
        // SAFETY: the caller's contract: we are this VP's thread.
        let local = unsafe { &mut *self.local.get() };
        let next = local.next.take()?;
        self.duties.fetch_sub(1, Ordering::Relaxed);
        Some(next)
    }

    /// The next chore for the VP's own loop (the listener, which has just listened): the one
    /// handed the VP, else the front of the run queue.
    ///
    /// # Safety
    /// Must be called on the thread running this VP.
    pub(crate) unsafe fn take_own(&self) -> Option<ChoreRef> {
        // SAFETY: the caller's contract.
        unsafe { self.take_handed() }.or_else(|| self.run.lock().pop_front())
    }

    pub(crate) fn post_remote(&self, action: RemoteAction) {
        self.remote.lock().push_back(action);
        self.remote_requests.fetch_add(1, Ordering::Release);
        self.duties.fetch_add(1, Ordering::Release);
    }

    /// `next_resume`'s pick when `duties` is not zero: the chore handed the VP; else nothing
    /// (the listener) if the listener has work; else the run queue's front.
    ///
    /// # Safety
    /// Must be called on the thread running this VP.
    #[inline]
    unsafe fn pick_attending(&self) -> Option<ChoreRef> {
        // SAFETY: the caller's contract.
        if let Some(next) = unsafe { self.take_handed() } {
            return Some(next);
        }
        if self.listener_has_work() {
            return None;
        }
        self.run.lock().pop_front()
    }

    /// Whether the listener has work: remote actions, expired alarms or a look for
    /// notifications due (the clock is read only while a chore sleeps or waits here).
    #[inline(never)]
    fn listener_has_work(&self) -> bool {
        if self.remote_requests.load(Ordering::Acquire) != 0 {
            return true;
        }
        let now = || self.listener.shared().idle.now_ns();
        (!self.alarms.is_empty() && self.alarms.due(now())) || self.poll_due(now)
    }

    /// The listener's duties: wake expired sleepers, take the notifications that reached a
    /// busy VP, then run remote actions. Returns how many remote actions ran.
    pub(crate) fn listen(&self) -> usize {
        let shared = self.listener.shared();
        if !self.alarms.is_empty() {
            let woken = self.alarms.expire(shared.idle.now_ns());
            self.duties.fetch_sub(woken, Ordering::AcqRel);
        }
        let now = || shared.idle.now_ns();
        if self.poll_due(now) {
            self.look()
                .next_ns
                .store(now() + NOTE_POLL_NS, Ordering::Relaxed);
            shared.idle.poll(self.index, &mut |word| {
                shared.notes.deliver(word);
            });
        }
        if self.remote_requests.load(Ordering::Acquire) == 0 {
            return 0;
        }
        let actions = core::mem::take(&mut *self.remote.lock());
        let served = actions.len();
        self.remote_requests.fetch_sub(served, Ordering::AcqRel);
        self.duties.fetch_sub(served, Ordering::AcqRel);
        if served > 0 {
            let mut ctx = Ctx::<Listener>::new(self.listener_ptr());
            for action in actions {
                action(&mut ctx);
            }
        }
        served
    }

    fn listener_ptr(&self) -> core::ptr::NonNull<Chore> {
        core::ptr::NonNull::from(&*self.listener)
    }

    /// Runs `chore`; returns once this VP's listener is switched back to.
    pub(crate) fn run_chore(&self, chore: ChoreRef) {
        let resume = self.install(chore);
        // SAFETY: the listener's save area belongs to this VP's thread; `resume` was saved by
        // `switch` or made by `initial_frame` on the chore's own stack, which runs nowhere.
        unsafe { switch(self.listener.save.as_ptr(), resume) };
        self.on_vp.store(core::ptr::null_mut(), Ordering::Relaxed);
    }

    /// Makes `chore` this VP's running chore; returns the stack pointer to resume it at, once
    /// the VP it left has stored it. The chore already names this VP: it was queued here by
    /// its spawn, wake or yield, or moved here by its thief (`Shared::steal`).
    #[inline]
    fn install(&self, chore: ChoreRef) -> usize {
        debug_assert!(
            core::ptr::eq(chore.on_vp(), self),
            "a chore runs on a VP it does not name"
        );
        self.on_vp
            .store(&*chore as *const Chore as *mut Chore, Ordering::Relaxed);
        let mut resume = chore.save.load(Ordering::Acquire);
        while resume == PENDING {
            spin_loop();
            resume = chore.save.load(Ordering::Acquire);
        }
        // The VP holds the reference while the chore runs (`take_current` takes it back).
        let _ = chore.into_raw();
        resume
    }

    /// The stack pointer to switch to when the running chore leaves: the next runnable chore
    /// (now installed), or the listener's when it has work or no chore is runnable.
    #[inline(always)]
    fn next_resume(&self) -> usize {
        let next = if self.duties.load(Ordering::Acquire) == 0 {
            self.run.lock().pop_front()
        } else {
            // SAFETY: only the chore running here leaves the VP, on this VP's thread.
            unsafe { self.pick_attending() }
        };
        match next {
            Some(next) => self.install(next),
            // The listener is suspended in `run_chore`, its stack pointer saved.
            None => self.listener.save.load(Ordering::Relaxed),
        }
    }

    /// The running chore's scheduling reference, which `install` gave up to the VP.
    ///
    /// # Safety
    /// `chore` must be the chore running on this VP, and the reference taken once per
    /// `install`.
    #[inline]
    unsafe fn take_current(chore: &Chore) -> ChoreRef {
        // SAFETY: the caller's contract: `install` gave this reference up with `into_raw`.
        unsafe { ChoreRef::from_raw(core::ptr::NonNull::from(chore)) }
    }

    /// Gives the VP to the next runnable chore; `chore` goes to the back of the run queue.
    /// With no other chore runnable and no listener work, it goes on at once.
    ///
    /// # Safety
    /// Must be called by the chore running on this VP.
    #[inline]
    pub(crate) unsafe fn yield_chore(&self, chore: &Chore) {
        let resume = if self.duties.load(Ordering::Acquire) == 0 {
            let mut run = self.run.lock();
            let Some(next) = run.pop_front() else {
                return;
            };
            // SAFETY: the caller's contract.
            let me = unsafe { Self::take_current(chore) };
            chore.save.store(PENDING, Ordering::Relaxed);
            run.push_back(me);
            drop(run);
            self.install(next)
        } else {
            // SAFETY: the caller's contract.
            match unsafe { self.yield_attending(chore) } {
                Some(resume) => resume,
                None => return,
            }
        };
        // SAFETY: the chore's save area is its own; `resume` is a saved context no one runs.
        unsafe { switch(chore.save.as_ptr(), resume) };
    }

    /// `yield_chore` when `duties` is not zero: to the chore handed the VP, else to the
    /// listener if it has work, else as usual. `None`: nothing else is runnable, go on.
    ///
    /// # Safety
    /// As `yield_chore`.
    #[inline(never)]
    unsafe fn yield_attending(&self, chore: &Chore) -> Option<usize> {
        // SAFETY: the caller's contract: we are this VP's thread.
        let handed = unsafe { self.take_handed() };
        let to_listener = handed.is_none() && self.listener_has_work();
        let mut run = self.run.lock();
        let next = match handed {
            Some(next) => Some(next),
            None if to_listener => None,
            None => Some(run.pop_front()?),
        };
        // SAFETY: the caller's contract.
        let me = unsafe { Self::take_current(chore) };
        chore.save.store(PENDING, Ordering::Relaxed);
        run.push_back(me);
        drop(run);
        Some(match next {
            Some(next) => self.install(next),
            // The listener is suspended in `run_chore`, its stack pointer saved.
            None => self.listener.save.load(Ordering::Relaxed),
        })
    }

    /// Suspends the running `chore` whose suspension record is on the wait list `held` locks:
    /// the list is released once the chore's save area reads `PENDING`, so its waker may make
    /// it runnable at once; it resumes when some VP runs it again.
    ///
    /// # Safety
    /// Must be called by the chore running on this VP; `held` must be the flag of a leaked
    /// wait-list guard.
    #[inline(always)]
    pub(crate) unsafe fn park(&self, chore: &Chore, held: *const AtomicBool) {
        // The scheduling reference `install` gave the VP now belongs to the waker.
        chore.save.store(PENDING, Ordering::Relaxed);
        // Chosen while the list is held, so not this chore (no one can have woken it yet).
        let resume = self.next_resume();
        // SAFETY: the caller's contract: the lock was leaked to us, and releasing it is ours.
        unsafe { (*held).store(false, Ordering::Release) };
        // SAFETY: the chore's save area is its own; `resume` is a saved context no one runs.
        unsafe { switch(chore.save.as_ptr(), resume) };
    }

    /// Switches from the running `chore` to `child`, a chore it has just made; `chore` takes
    /// the hand-off place (`hand_off`: it goes on when `child` first leaves the VP), or joins
    /// the run queue when that place is taken or the run queue's turn has come.
    ///
    /// # Safety
    /// Must be called by the chore running on this VP, which may suspend and holds no
    /// spin-only lock, and which `may_hand_off` allows; `child` must name this VP.
    #[inline(always)]
    pub(crate) unsafe fn run_first(&self, chore: &Chore, child: ChoreRef) {
        // SAFETY: the caller's contract.
        let me = unsafe { Self::take_current(chore) };
        chore.save.store(PENDING, Ordering::Relaxed);
        // SAFETY: the caller's contract: this VP's thread, and a chore it may hand itself to.
        unsafe { self.hand_off(me) };
        let resume = self.install(child);
        // SAFETY: the chore's save area is its own; `resume` is the new chore's first frame.
        unsafe { switch(chore.save.as_ptr(), resume) };
    }

    /// Leaves the VP for good: the exited chore is retired on the stack of the context that
    /// runs next, before it resumes (`exit_switch`).
    ///
    /// # Safety
    /// Must be called by the chore running on this VP, which has exited.
    pub(crate) unsafe fn exit(&self, chore: &Chore) -> ! {
        // SAFETY: the caller's contract.
        let me = unsafe { Self::take_current(chore) };
        let resume = self.next_resume();
        let exited = me.into_raw().as_ptr() as usize;
        // SAFETY: this chore's stack is never resumed again; `resume` is a saved context no
        // one runs; `retire_exited` does not switch.
        unsafe { exit_switch(resume, exited, retire_exited) }
    }
}

/// Retires a chore that exited (its scheduling reference, given up by `Vp::exit`), once it
/// is off its stack: run by `exit_switch` on the stack of the context resumed next, on the
/// same VP.
extern "C" fn retire_exited(exited: usize) {
    // SAFETY: `Vp::exit` passes the scheduling reference it took back with `into_raw`.
    let chore =
        unsafe { ChoreRef::from_raw(core::ptr::NonNull::new_unchecked(exited as *mut Chore)) };
    // SAFETY: the runtime and its VPs outlive its chores; reached through a raw pointer as
    // the reference moves into `retire`.
    let vp = unsafe { &*(chore.on_vp() as *const Vp) };
    vp.listener.shared().retire(chore, vp);
}
