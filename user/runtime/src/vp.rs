//! A virtual processor: a run queue (owner pops the front, thieves steal from the back), a
//! remote-action queue, a stack pool, and the listener context the VP's own loop runs in
//! (seed 000 section 7). A woken chore's restart request goes straight onto its VP's run
//! queue: the waker does the listener's restart work, so a hand-off on one VP is one switch.
//!
//! Guarantees: a chore that leaves the VP (yield, park, exit) switches straight to the next
//! runnable chore, or to the listener when the listener has work or nothing else is runnable.
//! A chore may be made runnable (yield, wake) before its registers are saved: its save area
//! reads `PENDING` until `switch` stores its stack pointer, and whoever resumes it waits for
//! that store (`install`). An exited chore's stack goes back to the pool only once it is off
//! the VP (`finish_switch`, run by whichever context resumes next).
//! Lock order: a suspending chore's wait-list lock, then a VP's run queue; the remote queue is
//! taken alone.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::cell::UnsafeCell;

use crate::alarm_queue::AlarmQueue;
use crate::chore::{Chore, ChoreRef, ChoreState};
use crate::ctx::Ctx;
use crate::kind::Listener;
use crate::run_queue::RunQueue;
use crate::stack::StackPool;
use crate::switch::switch;
use crate::sync::atomic::{spin_loop, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::sync::RawSpin;

pub(crate) type RemoteAction = Box<dyn FnOnce(&mut Ctx<Listener>) + Send>;

/// A save area's value while its chore is runnable but still switching away.
pub(crate) const PENDING: usize = 0;

/// How often a busy VP looks for the notifications its waiting chores expect (`Idle::poll`):
/// it bounds how late one is delivered when the VP never idles.
pub const NOTE_POLL_NS: u64 = 1_000_000;

/// State only the thread running this VP touches. The running chore's scheduling reference
/// is held by the VP implicitly (given up by `install`, taken back as the chore leaves), so
/// a switch keeps no record of it.
struct Local {
    /// A chore that exited and switched away, until the context resumed next retires it.
    exited: Option<ChoreRef>,
}

pub(crate) struct Vp {
    pub(crate) index: usize,
    /// Protects the VP's runnable chores (the seed's ready list: woken chores join it).
    pub(crate) run: RawSpin<RunQueue>,
    /// Remote actions posted and not yet taken by the listener.
    remote_requests: AtomicUsize,
    /// Remote actions not yet taken, chores sleeping here and chores waiting for a
    /// notification to this VP: the one word a switch reads to learn the listener may have
    /// work.
    duties: AtomicUsize,
    /// Chores waiting for a notification POSTed to this VP's endpoint.
    note_waiters: AtomicUsize,
    /// When the listener next looks for those notifications, if the VP is still busy.
    next_poll_ns: AtomicU64,
    /// Protects the remote actions other VPs asked this VP's listener to run.
    remote: RawSpin<VecDeque<RemoteAction>>,
    /// Protects the VP's stack chunks (contended only when a chore exits here).
    pub(crate) stacks: RawSpin<StackPool>,
    pub(crate) listener: Box<Chore>,
    /// Chores sleeping until a deadline; the listener wakes the expired ones.
    pub(crate) alarms: AlarmQueue,
    /// The chore running now (the listener's when none), for a fault keeper that reads it
    /// while the VP is stopped in a fault.
    pub(crate) on_vp: AtomicPtr<Chore>,
    /// The VP found nothing to run or steal and is about to idle (or idles): a spawn anywhere
    /// wakes it to steal, and a chore made ready on it wakes it (only then: `enqueue`).
    pub(crate) idling: AtomicBool,
    running: AtomicBool,
    local: UnsafeCell<Local>,
}

// SAFETY: `local` is touched only by the one thread running this VP (`enter` refuses a second)
// and by chores while they run on it; everything else is behind a lock or atomic.
unsafe impl Sync for Vp {}
// SAFETY: as above.
unsafe impl Send for Vp {}

impl Vp {
    pub(crate) fn new(index: usize, listener: Chore, stacks: StackPool) -> Vp {
        listener.set_state(ChoreState::Running);
        Vp {
            index,
            run: RawSpin::new(RunQueue::new()),
            remote_requests: AtomicUsize::new(0),
            duties: AtomicUsize::new(0),
            note_waiters: AtomicUsize::new(0),
            next_poll_ns: AtomicU64::new(0),
            remote: RawSpin::new(VecDeque::new()),
            stacks: RawSpin::new(stacks),
            listener: Box::new(listener),
            alarms: AlarmQueue::new(),
            on_vp: AtomicPtr::new(core::ptr::null_mut()),
            idling: AtomicBool::new(false),
            running: AtomicBool::new(false),
            local: UnsafeCell::new(Local { exited: None }),
        }
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
        if waits {
            if self.note_waiters.fetch_add(1, Ordering::AcqRel) == 0 {
                let now = self.listener.shared().idle.now_ns();
                self.next_poll_ns
                    .store(now + NOTE_POLL_NS, Ordering::Relaxed);
            }
            self.duties.fetch_add(1, Ordering::Release);
        } else {
            self.note_waiters.fetch_sub(1, Ordering::AcqRel);
            self.duties.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Whether a look for notifications is due: a chore waits for one and the VP has not
    /// looked for `NOTE_POLL_NS` (the clock is read only while one waits).
    fn poll_due(&self, now: impl Fn() -> u64) -> bool {
        self.note_waiters.load(Ordering::Acquire) != 0
            && now() >= self.next_poll_ns.load(Ordering::Relaxed)
    }

    /// A woken chore's restart request (called from any VP): it joins the run queue. Returns
    /// whether the VP idles (or is about to), and so must be told (`Idle::notify`).
    #[inline]
    pub(crate) fn make_ready(&self, chore: ChoreRef) -> bool {
        chore.set_state(ChoreState::Ready);
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

    pub(crate) fn post_remote(&self, action: RemoteAction) {
        self.remote.lock().push_back(action);
        self.remote_requests.fetch_add(1, Ordering::Release);
        self.duties.fetch_add(1, Ordering::Release);
    }

    /// Whether the listener has work: remote actions, expired alarms or a look for
    /// notifications due (the clock is read only while a chore sleeps or waits here).
    #[inline]
    fn listener_due(&self) -> bool {
        self.duties.load(Ordering::Acquire) != 0 && self.listener_has_work()
    }

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
            self.next_poll_ns
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
        self.finish_switch();
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
        let next = if self.listener_due() {
            None
        } else {
            self.run.lock().pop_front()
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
        let resume = if self.listener_due() {
            // SAFETY: the caller's contract.
            let me = unsafe { Self::take_current(chore) };
            chore.save.store(PENDING, Ordering::Relaxed);
            self.run.lock().push_back(me);
            self.listener.save.load(Ordering::Relaxed)
        } else {
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
        };
        // SAFETY: the chore's save area is its own; `resume` is a saved context no one runs.
        unsafe { switch(chore.save.as_ptr(), resume) };
        chore.on_vp().finish_switch();
    }

    /// Suspends the running `chore` whose suspension record is on the wait list `held` locks:
    /// the list is released once the chore's save area reads `PENDING`, so its waker may make
    /// it runnable at once; it resumes when some VP runs it again.
    ///
    /// # Safety
    /// Must be called by the chore running on this VP; `held` must be the flag of a leaked
    /// wait-list guard.
    #[inline]
    pub(crate) unsafe fn park(&self, chore: &Chore, held: *const AtomicBool) {
        // The scheduling reference `install` gave the VP now belongs to the waker.
        chore.save.store(PENDING, Ordering::Relaxed);
        // Chosen while the list is held, so not this chore (no one can have woken it yet).
        let resume = self.next_resume();
        // SAFETY: the caller's contract: the lock was leaked to us, and releasing it is ours.
        unsafe { (*held).store(false, Ordering::Release) };
        // SAFETY: the chore's save area is its own; `resume` is a saved context no one runs.
        unsafe { switch(chore.save.as_ptr(), resume) };
        chore.on_vp().finish_switch();
    }

    /// Leaves the VP for good: the exited chore is retired by whichever context runs next.
    ///
    /// # Safety
    /// Must be called by the chore running on this VP, which has exited.
    pub(crate) unsafe fn exit(&self, chore: &Chore) -> ! {
        // SAFETY: the caller's contract.
        unsafe {
            let me = Self::take_current(chore);
            (*self.local.get()).exited = Some(me);
        }
        let resume = self.next_resume();
        // SAFETY: the chore's save area is its own (never resumed again); `resume` is a saved
        // context no one runs.
        unsafe { switch(chore.save.as_ptr(), resume) };
        unreachable!("exited chore {} was resumed", chore.id)
    }

    /// Runs first on whatever context a switch resumed (a chore, a fresh chore, the listener):
    /// retires the chore that exited into it, now that it is off its stack.
    #[inline]
    pub(crate) fn finish_switch(&self) {
        // SAFETY: we run on this VP; the chore that exited is off it for good.
        let local = unsafe { &mut *self.local.get() };
        if local.exited.is_some() {
            self.retire_exited(local);
        }
    }

    #[inline(never)]
    fn retire_exited(&self, local: &mut Local) {
        if let Some(chore) = local.exited.take() {
            self.listener.shared().retire(chore);
        }
    }
}
