//! SVC notification (seed 000 section 8): a chore makes a kernel call that must not block its
//! VP. The call is tried; if it would block, the kernel has registered an event-notification
//! request (an endpoint of the task and a word) and the chore is suspended, not the VP, until
//! the notification POST reaches a listener, which hands the word to `Runtime::deliver`; then
//! the call is retried. The chore bears the cost; the VP runs other chores meanwhile.
//!
//! The kernel side is abstracted as `NonBlocking::attempt(Notification)`: "try, else register
//! a notification to this VP's endpoint carrying this word". The table here maps words to
//! suspended chores.
//!
//! A word names either one call (its slot) or a whole VP (`vp_notification`): the kernel
//! watches an object once per requesting process and keeps a few requests per process, so its
//! notification means "something this VP's calls waited for may have cleared", and every
//! chore whose last try was made on that VP retries.
//!
//! Guarantees: a notification is never lost: one delivered before its chore suspends is kept
//! (`fired`) and ends the next wait at once. A word carries its slot's generation, so a stale
//! notification (a slot freed and reused since) is refused, not delivered to a stranger.

use alloc::vec::Vec;

use crate::sync::RawSpin;
use crate::wait::{check_no_spin_held, Suspend, Waker};

/// Set in every notification word, so a listener tells them apart from its other messages.
pub const NOTIFICATION_TAG: u64 = 1 << 63;
/// Set (besides the tag) in a word that names a VP rather than one call.
const VP_WIDE: u64 = 1 << 62;
/// A call's slot generation fits below `VP_WIDE`.
const GENERATION_MASK: u32 = 0x3fff_ffff;

/// The notification word naming VP `vp`: delivering it retries every call whose last try was
/// made on that VP (the word a VP's kernel notification endpoint is registered with).
pub const fn vp_notification(vp: usize) -> u64 {
    NOTIFICATION_TAG | VP_WIDE | vp as u64
}

/// Where the kernel is to send the notification of a call that would block: to the endpoint
/// of VP `vp`, carrying `word`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    pub vp: usize,
    pub word: u64,
}

/// One try of a non-blocking kernel call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt<T> {
    Done(T),
    /// The call had no effect; the kernel will POST the notification when worth retrying.
    WouldBlock,
}

/// A kernel call made without blocking: `attempt` tries it once, registering `notify` with
/// the kernel if it would block (seed 000's `kc_xxx(arg, channel_id)`).
pub trait NonBlocking {
    type Output;
    fn attempt(&mut self, notify: Notification) -> Attempt<Self::Output>;
}

impl<T, F: FnMut(Notification) -> Attempt<T>> NonBlocking for F {
    type Output = T;
    fn attempt(&mut self, notify: Notification) -> Attempt<T> {
        self(notify)
    }
}

struct Slot {
    generation: u32,
    in_use: bool,
    /// A notification arrived while no chore waited on the slot.
    fired: bool,
    /// The VP the call was last tried on: a VP-wide notification of it retries the call.
    vp: usize,
    waiter: Option<Waker>,
}

/// The task's table of outstanding notification requests.
pub(crate) struct Notifications {
    /// Protects the slots and their free list; a waiting chore's record is in its slot.
    slots: RawSpin<(Vec<Slot>, Vec<u32>)>,
}

fn word(index: u32, generation: u32) -> u64 {
    NOTIFICATION_TAG | u64::from(generation) << 32 | u64::from(index)
}

impl Notifications {
    pub(crate) fn new() -> Notifications {
        Notifications {
            slots: RawSpin::new((Vec::new(), Vec::new())),
        }
    }

    fn alloc(&self) -> u64 {
        let mut t = self.slots.lock();
        let (slots, free) = &mut *t;
        let index = match free.pop() {
            Some(i) => i,
            None => {
                slots.push(Slot {
                    generation: 0,
                    in_use: false,
                    fired: false,
                    vp: 0,
                    waiter: None,
                });
                (slots.len() - 1) as u32
            }
        };
        let s = &mut slots[index as usize];
        s.generation = s.generation.wrapping_add(1) & GENERATION_MASK;
        s.in_use = true;
        s.fired = false;
        word(index, s.generation)
    }

    fn free(&self, word: u64) {
        let mut t = self.slots.lock();
        let (slots, free) = &mut *t;
        let index = word as u32;
        slots[index as usize].in_use = false;
        free.push(index);
    }

    /// Suspends the caller until `word` is delivered (at once if it already was).
    fn wait<C: Suspend>(&self, ctx: &mut C, word: u64) {
        let mut t = self.slots.lock();
        let slot = &mut t.0[word as u32 as usize];
        if slot.fired {
            slot.fired = false;
            return;
        }
        check_no_spin_held(ctx);
        slot.waiter = Some(ctx.waker());
        ctx.park(t);
    }

    /// The call of `word` is about to be tried on VP `vp`.
    fn trying_on(&self, word: u64, vp: usize) {
        self.slots.lock().0[word as u32 as usize].vp = vp;
    }

    /// A listener received `word`: wakes its chore (every chore last tried on its VP, for a
    /// VP-wide word), or marks it fired. False if the word names no outstanding request
    /// (stale, or not a notification at all).
    pub(crate) fn deliver(&self, word: u64) -> bool {
        if word & NOTIFICATION_TAG == 0 {
            return false;
        }
        if word & VP_WIDE != 0 {
            self.deliver_vp(word as u32 as usize);
            return true;
        }
        let waiter = {
            let mut t = self.slots.lock();
            let Some(slot) = t.0.get_mut(word as u32 as usize) else {
                return false;
            };
            if !slot.in_use || word != self::word(word as u32, slot.generation) {
                return false;
            }
            let w = slot.waiter.take();
            slot.fired = w.is_none();
            w
        };
        if let Some(w) = waiter {
            w.wake();
        }
        true
    }

    fn deliver_vp(&self, vp: usize) {
        let waiters: Vec<Waker> = {
            let mut t = self.slots.lock();
            t.0.iter_mut()
                .filter(|s| s.in_use && s.vp == vp)
                .filter_map(|s| {
                    let w = s.waiter.take();
                    s.fired = w.is_none();
                    w
                })
                .collect()
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Runs `call` until it completes, suspending the caller on each `WouldBlock` until its
    /// notification is delivered (seed 000's `svc_xxx` loop).
    /// `waiting(vp, true)` and `waiting(vp, false)` bracket each wait for a notification to VP
    /// `vp`'s endpoint, so that the VP looks for it while busy.
    pub(crate) fn call<C: Suspend, N: NonBlocking>(
        &self,
        ctx: &mut C,
        vp: impl Fn(&C) -> usize,
        waiting: impl Fn(usize, bool),
        call: &mut N,
    ) -> N::Output {
        let word = self.alloc();
        loop {
            let note = Notification { vp: vp(ctx), word };
            self.trying_on(word, note.vp);
            match call.attempt(note) {
                Attempt::Done(v) => {
                    self.free(word);
                    return v;
                }
                Attempt::WouldBlock => {
                    waiting(note.vp, true);
                    self.wait(ctx, word);
                    waiting(note.vp, false);
                }
            }
        }
    }
}
