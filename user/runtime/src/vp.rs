//! A virtual processor: a run queue (owner pops the front, thieves steal from the back), a
//! ready list of chores woken since it last looked (the seed's readyList with its
//! restartRequestCount), a remote-action queue, a stack pool, and the listener context the
//! VP's own loop runs in (seed 000 section 7).
//!
//! Guarantees: a chore that leaves the VP (yield, park, exit) switches straight to the next
//! ready chore, or to the listener; whichever context runs next performs the action the chore
//! asked for (`After`), so only once the chore's registers are saved: a chore that parks is
//! never restarted, nor an exited chore's stack reused, before it is off the VP.
//! Lock order: a suspending chore's wait-list lock, then this VP's run queue; the ready list
//! and remote queue are taken alone.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;

use crate::alarm_queue::AlarmQueue;
use crate::chore::{Chore, ChoreRef, ChoreState};
use crate::ctx::Ctx;
use crate::kind::Listener;
use crate::stack::StackPool;
use crate::switch::switch;
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use crate::sync::RawSpin;

pub(crate) type RemoteAction = Box<dyn FnOnce(&mut Ctx<Listener>) + Send>;

/// What the listener does for a chore once it has switched away.
pub(crate) enum After {
    Nothing,
    Yield,
    /// Release this wait-list lock: the chore's record is on its list and it may now be woken.
    Park(*const AtomicBool),
    Exit,
}

/// State only the thread running this VP touches.
struct Local {
    current: Option<ChoreRef>,
    /// The chore that just switched away, until the context resumed next finishes its request.
    previous: Option<ChoreRef>,
    after: After,
}

pub(crate) struct Vp {
    pub(crate) index: usize,
    /// Protects the VP's runnable chores.
    pub(crate) run: RawSpin<VecDeque<ChoreRef>>,
    /// Protects the chores woken for this VP and not yet restarted.
    ready: RawSpin<Vec<ChoreRef>>,
    restart_requests: AtomicUsize,
    /// Protects the remote actions other VPs asked this VP's listener to run.
    remote: RawSpin<VecDeque<RemoteAction>>,
    /// Protects the VP's stack chunks (contended only when a chore exits here).
    pub(crate) stacks: RawSpin<StackPool>,
    pub(crate) listener: Arc<Chore>,
    /// Chores sleeping until a deadline; the listener wakes the expired ones.
    pub(crate) alarms: AlarmQueue,
    /// The chore running now (the listener's when none), for a fault keeper that reads it
    /// while the VP is stopped in a fault.
    pub(crate) on_vp: AtomicPtr<Chore>,
    /// The VP found nothing to run or steal and is about to idle (or idles): a spawn anywhere
    /// wakes it to steal.
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
        listener.vp.store(index, Ordering::Relaxed);
        listener.set_state(ChoreState::Running);
        Vp {
            index,
            run: RawSpin::new(VecDeque::new()),
            ready: RawSpin::new(Vec::new()),
            restart_requests: AtomicUsize::new(0),
            remote: RawSpin::new(VecDeque::new()),
            stacks: RawSpin::new(stacks),
            listener: Arc::new(listener),
            alarms: AlarmQueue::new(),
            on_vp: AtomicPtr::new(core::ptr::null_mut()),
            idling: AtomicBool::new(false),
            running: AtomicBool::new(false),
            local: UnsafeCell::new(Local {
                current: None,
                previous: None,
                after: After::Nothing,
            }),
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

    /// A woken chore's restart request (called from any VP).
    pub(crate) fn make_ready(&self, chore: ChoreRef) {
        chore.set_state(ChoreState::Ready);
        self.ready.lock().push(chore);
        self.restart_requests.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn post_remote(&self, action: RemoteAction) {
        self.remote.lock().push_back(action);
        self.restart_requests.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn has_requests(&self) -> bool {
        self.restart_requests.load(Ordering::Acquire) != 0
    }

    /// Whether the listener has work: restart requests, remote actions or expired alarms
    /// (the clock is read only while a chore sleeps here).
    fn listener_due(&self) -> bool {
        self.has_requests()
            || (!self.alarms.is_empty() && self.alarms.due(self.listener.shared().idle.now_ns()))
    }

    /// The listener's duties: restart ready chores, then run remote actions. Returns how many
    /// remote actions ran.
    pub(crate) fn listen(&self) -> usize {
        if !self.alarms.is_empty() {
            self.alarms.expire(self.listener.shared().idle.now_ns());
        }
        if !self.has_requests() {
            return 0;
        }
        let woken = core::mem::take(&mut *self.ready.lock());
        let restarted = woken.len();
        if restarted > 0 {
            self.run.lock().extend(woken);
        }
        let actions = core::mem::take(&mut *self.remote.lock());
        let served = actions.len();
        self.restart_requests
            .fetch_sub(restarted + served, Ordering::AcqRel);
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
        unsafe { switch(self.listener.save.get(), resume) };
        self.on_vp.store(core::ptr::null_mut(), Ordering::Relaxed);
        self.finish_switch();
    }

    /// Makes `chore` this VP's running chore; returns the stack pointer to resume it at.
    fn install(&self, chore: ChoreRef) -> usize {
        chore.vp.store(self.index, Ordering::Relaxed);
        chore.set_state(ChoreState::Running);
        self.on_vp
            .store(&*chore as *const Chore as *mut Chore, Ordering::Relaxed);
        // SAFETY: the chore is ours now (popped from a run queue) and not running anywhere.
        let resume = unsafe { *chore.save.get() };
        // SAFETY: only this VP's thread touches `local`, and the previous chore has handed its
        // reference over to `previous` already.
        unsafe { (*self.local.get()).current = Some(chore) };
        resume
    }

    /// Called on the running chore's stack: records what should happen to it once it is off
    /// the VP, then switches straight to the next ready chore, or to the listener when the VP
    /// has listener work or nothing else to run. Returns when the chore is resumed, on this or
    /// another VP.
    ///
    /// # Safety
    /// Must be called by the chore running on this VP.
    pub(crate) unsafe fn switch_from(&self, chore: &Chore, after: After) {
        let next = if self.listener_due() {
            None
        } else {
            self.run.lock().pop_front()
        };
        // SAFETY: the caller runs on this VP, so `local` is its to touch.
        unsafe {
            let local = &mut *self.local.get();
            local.previous = local.current.take();
            local.after = after;
        }
        let resume = match next {
            Some(next) => self.install(next),
            // SAFETY: the listener is suspended in `run_chore`, its stack pointer saved.
            None => unsafe { *self.listener.save.get() },
        };
        // SAFETY: the chore's save area is its own; `resume` is a saved context no one runs.
        unsafe { switch(chore.save.get(), resume) };
        chore.shared().vps[chore.vp()].finish_switch();
    }

    /// Runs first on whatever context a switch resumed (a chore, a fresh chore, the listener):
    /// does what the chore that switched away asked, now that its registers are saved.
    pub(crate) fn finish_switch(&self) {
        // SAFETY: we run on this VP; the chore that left it is off it for good.
        let (previous, after) = unsafe {
            let l = &mut *self.local.get();
            (
                l.previous.take(),
                core::mem::replace(&mut l.after, After::Nothing),
            )
        };
        let Some(chore) = previous else { return };
        match after {
            After::Nothing | After::Yield => self.run.lock().push_back(chore),
            After::Park(flag) => {
                // The waker now owns the scheduling reference.
                let _ = chore.into_raw();
                // SAFETY: the flag is the wait-list lock the chore leaked in `park`; it is
                // alive because the chore's record (which the list holds) is not yet woken.
                unsafe { (*flag).store(false, Ordering::Release) };
            }
            After::Exit => self.listener.shared().retire(self, chore),
        }
    }
}
