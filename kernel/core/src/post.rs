//! Post activities (seed 003), an allotment of them per process.
//!
//! A POST whose recipient is not available is carried by a post activity: the payload, the
//! badge of the endpoint it came through, and the sender's priority. The activity waits on the
//! recipient's sender queue in FIFO order with the stalled senders; when the recipient becomes
//! available and the activity is at the head, it is delivered at once and freed.
//!
//! Every process has its own allotment of activities (`per_process`, the slots of its table
//! index), paid for with the process itself: the bank unit a process costs covers its
//! allotment. A sender whose allotment is all in flight stalls until one of its own activities
//! is delivered, so POSTs are never dropped, and no program can take activities from another
//! by posting to a recipient that never listens: it exhausts only its own.
//!
//! # Invariants (checked by `Kernel::check_invariants`)
//! - Every activity is either free or in use, queued on exactly one live process's sender
//!   queue; never both, never neither.
//! - A process waits here (`WAITING` in its allotment word) only while every activity of its
//!   allotment is in use, and is then `Stalled(QueueRef::PostPool)`. Only it can use what its
//!   allotment frees, so there is no order among waiters and no owner to pass on.
//! - A process's allotment is watched (`WATCHED`) by at most one notification request of its
//!   own (`notify.rs`: a non-blocking POST that found it spent), set only while every activity
//!   of the allotment is in use; the first activity freed after it clears the bit and fires
//!   the request (`take_watch`).
//!
//! Every process also has `NOTIFY_REQUESTS` notification activities (`Sender::Notify`): each
//! is a notification request taken when it is registered, and the POST that notifies it, so a
//! request costs nothing beyond what its process paid for.
//!
//! # Locks: none of its own (seed 001 wants no global lock on a common path)
//! - An allotment's word (its free bits and `WAITING`) is one atomic: only the sender takes
//!   from it, under its own lock (a process's path holds its caller; an IRQ line's post holds
//!   the line), and anyone frees into it. Freeing an activity and clearing `WAITING` is one
//!   atomic step, and so is finding none free and setting `WAITING`, so a sender can neither
//!   miss the activity freed as it stalls nor be woken twice.
//! - An activity's contents sit behind a leaf lock of their own, held for one copy in or out.
//!   They are written and read under the lock of the recipient whose queue holds the activity.

use alloc::boxed::Box;
use spin::mutex::SpinMutex;
use tessera_abi::post::{PostPayload, NOTIFY_REQUESTS};

use crate::cap::ObjId;
use crate::object::process::Staller;
use crate::run_queue::Priority;
use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The name of a post activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PostId(pub u32);

/// A POST in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activity {
    /// The recipient process.
    pub target: ObjId,
    /// The badge of the endpoint it was sent through.
    pub badge: u64,
    /// Order code and word.
    pub payload: PostPayload,
    /// The sender's priority at the time of the POST.
    pub priority: Priority,
    /// Arrival stamp on the recipient's queue (FIFO order is checked against it).
    pub stamp: u64,
}

/// Whose allotment a POST comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// A process (its allotment is its table slot's).
    Process(ObjId),
    /// The kernel posting an IRQ line: one activity per line, as a line is posted once however
    /// often it fires meanwhile (`pending_irqs.rs`).
    Irq(u32),
    /// The kernel posting an alarm's expiry (by alarm table index): one activity per alarm,
    /// as an expiry while the previous one is still queued merges with it (`alarms.rs`).
    Alarm(u32),
    /// The kernel notifying a process's notification request: its own allotment of
    /// `NOTIFY_REQUESTS` (`notify.rs`).
    Notify(ObjId),
}

/// A sender waits for an activity of its allotment: the top bit of its allotment word.
const WAITING: u64 = 1 << 63;
/// A notification request of the sender watches its allotment (see the file header).
const WATCHED: u64 = 1 << 62;
/// The bits of an allotment word that say which activities are free.
const FREE: u64 = !(WAITING | WATCHED);

/// The largest allotment: the bits of an allotment word below `WATCHED`.
pub const MAX_ALLOTMENT: u32 = u64::BITS - 2;

/// What `PostPool::wait` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The sender waits; whoever frees one of its activities wakes it.
    Waiting,
    /// An activity was freed meanwhile: the sender should not stall but try again.
    FreeNow,
    /// It waits already, or it has no allotment (a kernel bug in the caller).
    Refused,
}

/// Every process's allotment of activities, then one per IRQ line, then one per alarm, then
/// every process's notification activities.
#[derive(Debug)]
pub struct PostPool {
    slots: Box<[SpinMutex<Option<Activity>>]>,
    per_process: usize,
    processes: usize,
    irq_lines: usize,
    alarms: usize,
    /// By allotment (process table index, then IRQ line): a bit per activity, set while free,
    /// so finding a free one is one instruction, not a walk; and `WAITING`.
    words: Box<[AtomicU64]>,
    /// By process table index: the stall of a process whose allotment is all in use, valid
    /// while its word has `WAITING` (written before the bit is set, read after it is seen).
    waiting_seq: Box<[AtomicU64]>,
    waiting_generation: Box<[AtomicU32]>,
    /// By process table index: the notification request watching its allotment, valid while
    /// its word has `WATCHED` (written before the bit is set, read after it is cleared).
    watch: Box<[AtomicU32]>,
}

impl PostPool {
    /// `per_process` activities (at most `MAX_ALLOTMENT`) for each of `processes` process
    /// table slots, one for each of `irq_lines` lines and one for each of `alarms` alarms.
    pub fn new(processes: usize, per_process: u32, irq_lines: usize, alarms: usize) -> PostPool {
        assert!(
            per_process <= MAX_ALLOTMENT,
            "post allotment above {MAX_ALLOTMENT}"
        );
        let full = u64::MAX.checked_shr(u64::BITS - per_process).unwrap_or(0);
        let requests = (1u64 << NOTIFY_REQUESTS) - 1;
        let per = per_process as usize;
        let notify = NOTIFY_REQUESTS as usize;
        PostPool {
            slots: (0..processes * (per + notify) + irq_lines + alarms)
                .map(|_| SpinMutex::new(None))
                .collect(),
            per_process: per,
            processes,
            irq_lines,
            alarms,
            words: (0..processes)
                .map(|_| AtomicU64::new(full))
                .chain((0..irq_lines + alarms).map(|_| AtomicU64::new(1)))
                .chain((0..processes).map(|_| AtomicU64::new(requests)))
                .collect(),
            waiting_seq: (0..processes).map(|_| AtomicU64::new(0)).collect(),
            waiting_generation: (0..processes).map(|_| AtomicU32::new(0)).collect(),
            watch: (0..processes).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Activities in all, processes' and IRQ lines'.
    pub fn activities(&self) -> usize {
        self.slots.len()
    }

    /// Activities each process has.
    pub fn allotment(&self) -> usize {
        self.per_process
    }

    /// The allotment `sender` draws on, and where its activities start.
    fn allotment_of(&self, sender: Sender) -> (usize, usize) {
        match sender {
            Sender::Process(p) => (p.index as usize, p.index as usize * self.per_process),
            Sender::Irq(line) => {
                let base = self.processes * self.per_process;
                (self.processes + line as usize, base + line as usize)
            }
            Sender::Alarm(alarm) => {
                let base = self.processes * self.per_process + self.irq_lines;
                let at = self.irq_lines + alarm as usize;
                (self.processes + at, base + alarm as usize)
            }
            Sender::Notify(p) => {
                let i = p.index as usize;
                let kernel = self.irq_lines + self.alarms;
                let base = self.processes * self.per_process + kernel;
                (
                    self.processes + kernel + i,
                    base + i * NOTIFY_REQUESTS as usize,
                )
            }
        }
    }

    /// The allotment activity `id` belongs to, and its bit there.
    fn owner_of(&self, id: PostId) -> (usize, u32) {
        let i = id.0 as usize;
        let base = self.processes * self.per_process;
        let kernel = self.irq_lines + self.alarms;
        if i < base {
            (i / self.per_process, (i % self.per_process) as u32)
        } else if i < base + kernel {
            (self.processes + (i - base), 0)
        } else {
            let n = i - base - kernel;
            let per = NOTIFY_REQUESTS as usize;
            (self.processes + kernel + n / per, (n % per) as u32)
        }
    }

    /// The activity `sender`'s next POST would take, if one of its allotment is free. It stays
    /// free until `sender` takes it, as only `sender` takes from its allotment.
    pub fn next_free(&self, sender: Sender) -> Option<PostId> {
        let (owner, base) = self.allotment_of(sender);
        let mask = self.words.get(owner)?.load(Ordering::Acquire) & FREE;
        (mask != 0).then(|| PostId((base + mask.trailing_zeros() as usize) as u32))
    }

    /// The notification activities of process `p`, free or not.
    pub fn requests_of(&self, p: ObjId) -> impl Iterator<Item = PostId> {
        let (_, base) = self.allotment_of(Sender::Notify(p));
        (base..base + NOTIFY_REQUESTS as usize).map(|i| PostId(i as u32))
    }

    /// Takes the free activity `id` (found by `next_free`) for `a`; false if it is not free.
    pub fn take(&self, id: PostId, a: Activity) -> bool {
        let Some(slot) = self.slots.get(id.0 as usize) else {
            return false;
        };
        let (owner, bit) = self.owner_of(id);
        let was = self.words[owner].fetch_and(!(1 << bit), Ordering::AcqRel);
        if was & (1 << bit) == 0 {
            return false;
        }
        *slot.lock() = Some(a);
        true
    }

    /// Gives the one activity of kernel sender `sender` (an IRQ line or an alarm) a new
    /// payload if it is in use (still queued): a later expiry merges into it. False if free.
    pub fn merge(&self, sender: Sender, payload: PostPayload) -> bool {
        if let Sender::Process(_) | Sender::Notify(_) = sender {
            return false;
        }
        let (_, base) = self.allotment_of(sender);
        let Some(slot) = self.slots.get(base) else {
            return false;
        };
        match slot.lock().as_mut() {
            Some(a) => {
                a.payload = payload;
                true
            }
            None => false,
        }
    }

    /// Gives activity `id` (in use, in no queue) a new arrival stamp: a notification is queued
    /// long after it was taken, and queue order is arrival order.
    pub fn restamp(&self, id: PostId, stamp: u64) {
        if let Some(a) = self
            .slots
            .get(id.0 as usize)
            .map(|s| s.lock())
            .as_deref_mut()
            .and_then(Option::as_mut)
        {
            a.stamp = stamp;
        }
    }

    /// The activity `id`, if in use.
    pub fn get(&self, id: PostId) -> Option<Activity> {
        *self.slots.get(id.0 as usize)?.lock()
    }

    /// Frees `id`, returning what it carried and the process that waited for it to be freed
    /// (no longer waiting: the caller wakes it).
    pub fn release(&self, id: PostId) -> Option<(Activity, Option<Staller>)> {
        let a = self.slots.get(id.0 as usize)?.lock().take()?;
        let (owner, bit) = self.owner_of(id);
        let was = self.words[owner].fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
            Some((w | 1 << bit) & !WAITING)
        });
        let was = was.unwrap_or_else(|w| w);
        Some((a, (was & WAITING != 0).then(|| self.waiter(owner))))
    }

    /// After `freed` was released: the notification request that watched its allotment, no
    /// longer watching (the caller fires it). One free activity ends the watch, so of two
    /// releases only one finds it.
    pub fn take_watch(&self, freed: PostId) -> Option<PostId> {
        let (owner, _) = self.owner_of(freed);
        self.end_watch(owner)
    }

    /// Process `p` is destroyed: the request watching its allotment, no longer watching (the
    /// caller drops it), so a process made in the same table slot finds no watch of its own.
    pub fn unwatch(&self, p: ObjId) -> Option<PostId> {
        self.end_watch(p.index as usize)
    }

    /// Clears allotment `owner`'s watch: whoever clears the bit has the request.
    fn end_watch(&self, owner: usize) -> Option<PostId> {
        if owner >= self.processes {
            return None;
        }
        let was = self.words[owner].fetch_and(!WATCHED, Ordering::AcqRel);
        (was & WATCHED != 0).then(|| PostId(self.watch[owner].load(Ordering::Acquire)))
    }

    /// Whether a notification request of process `p` watches its allotment.
    pub fn is_watched(&self, p: ObjId) -> bool {
        let i = p.index as usize;
        i < self.processes && self.words[i].load(Ordering::Acquire) & WATCHED != 0
    }

    /// Request `request` of process `p` (locked) watches `p`'s allotment until an activity of
    /// it is freed, unless one is free now (`FreeNow`) or another request watches it already
    /// (`Refused`).
    pub fn watch(&self, p: ObjId, request: PostId) -> WaitOutcome {
        let i = p.index as usize;
        let Some(word) = self.words.get(i).filter(|_| i < self.processes) else {
            return WaitOutcome::Refused;
        };
        if word.load(Ordering::Acquire) & WATCHED != 0 {
            return WaitOutcome::Refused;
        }
        // Only `p` sets the bit, under its lock: nobody reads this until it is set.
        self.watch[i].store(request.0, Ordering::Release);
        match word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
            (w & FREE == 0 && w & WATCHED == 0).then_some(w | WATCHED)
        }) {
            Ok(_) => WaitOutcome::Waiting,
            Err(w) if w & FREE != 0 => WaitOutcome::FreeNow,
            Err(_) => WaitOutcome::Refused,
        }
    }

    /// `s` (locked) waits until an activity of its allotment is freed, unless one is free now.
    pub fn wait(&self, s: Staller) -> WaitOutcome {
        let i = s.id.index as usize;
        let Some(word) = self.words.get(i).filter(|_| i < self.processes) else {
            return WaitOutcome::Refused;
        };
        self.waiting_seq[i].store(s.seq, Ordering::Release);
        self.waiting_generation[i].store(s.id.generation, Ordering::Release);
        match word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
            (w & !WATCHED == 0).then_some(w | WAITING)
        }) {
            Ok(_) => WaitOutcome::Waiting,
            Err(w) if w & WAITING != 0 => WaitOutcome::Refused,
            Err(_) => WaitOutcome::FreeNow,
        }
    }

    /// `s` stops waiting (halted or destroyed). Returns whether it was waiting.
    pub fn leave(&self, s: Staller) -> bool {
        let i = s.id.index as usize;
        let Some(word) = self.words.get(i).filter(|_| i < self.processes) else {
            return false;
        };
        if self.waiting_seq[i].load(Ordering::Acquire) != s.seq {
            return false;
        }
        word.fetch_and(!WAITING, Ordering::AcqRel) & WAITING != 0
    }

    /// Every process waiting for its allotment.
    pub fn waiters(&self) -> impl Iterator<Item = Staller> + '_ {
        (0..self.processes)
            .filter(|&i| self.words[i].load(Ordering::Acquire) & WAITING != 0)
            .map(|i| self.waiter(i))
    }

    /// The stall recorded for process slot `i`'s allotment (meaningful while it has `WAITING`).
    fn waiter(&self, i: usize) -> Staller {
        Staller {
            id: ObjId {
                index: i as u32,
                generation: self.waiting_generation[i].load(Ordering::Acquire),
            },
            seq: self.waiting_seq[i].load(Ordering::Acquire),
        }
    }

    /// The notification requests watching allotments (of live or dead processes).
    pub fn watches(&self) -> impl Iterator<Item = PostId> + '_ {
        (0..self.processes)
            .filter(|&i| self.words[i].load(Ordering::Acquire) & WATCHED != 0)
            .map(|i| PostId(self.watch[i].load(Ordering::Acquire)))
    }

    /// Every activity in use.
    pub fn in_use(&self) -> impl Iterator<Item = (PostId, Activity)> + '_ {
        (0..self.slots.len()).filter_map(|i| Some((PostId(i as u32), (*self.slots[i].lock())?)))
    }

    /// Whether activity `id` is free by its allotment's word (for invariant checks: a free
    /// activity holds nothing and one in use is queued).
    pub fn is_free(&self, id: PostId) -> bool {
        let (owner, bit) = self.owner_of(id);
        self.words[owner].load(Ordering::Acquire) & (1 << bit) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn act(word: u64) -> Activity {
        Activity {
            target: ObjId {
                index: 1,
                generation: 1,
            },
            badge: 0,
            payload: PostPayload { order: 1, word },
            priority: Priority::LOWEST,
            stamp: word,
        }
    }

    fn sender(index: u32) -> ObjId {
        ObjId {
            index,
            generation: 1,
        }
    }

    fn take(p: &PostPool, s: Sender, a: Activity) -> Option<PostId> {
        let id = p.next_free(s)?;
        p.take(id, a).then_some(id)
    }

    #[test]
    fn each_process_has_its_own_allotment() {
        let p = PostPool::new(3, 2, 1, 2);
        let (a, b) = (Sender::Process(sender(0)), Sender::Process(sender(1)));
        let x = take(&p, a, act(1)).unwrap();
        take(&p, a, act(2)).unwrap();
        assert!(take(&p, a, act(3)).is_none(), "a's allotment is spent");
        assert!(!p.take(x, act(3)), "an activity in use is not taken again");
        assert!(take(&p, b, act(4)).is_some(), "b's is its own");
        let line = take(&p, Sender::Irq(0), act(5)).unwrap();
        assert!(
            take(&p, Sender::Irq(0), act(6)).is_none(),
            "one activity per line"
        );
        let alarm = take(&p, Sender::Alarm(1), act(8)).unwrap();
        assert!(
            take(&p, Sender::Alarm(1), act(9)).is_none(),
            "one activity per alarm"
        );
        assert!(
            take(&p, Sender::Alarm(0), act(10)).is_some(),
            "each alarm has its own"
        );
        assert_ne!(alarm, line);
        let later = PostPayload { order: 1, word: 11 };
        assert!(p.merge(Sender::Alarm(1), later), "in use: merged");
        assert!(
            !p.merge(Sender::Process(sender(1)), later),
            "only a kernel sender's"
        );
        assert_eq!(
            p.release(alarm).map(|(a, w)| (a.payload.word, w)),
            Some((11, None))
        );
        assert!(
            !p.merge(Sender::Alarm(1), later),
            "free: nothing to merge into"
        );
        assert_eq!(
            p.release(line).map(|(_, w)| w),
            Some(None),
            "nobody waits for a line's"
        );
        let waiter = Staller {
            id: sender(0),
            seq: 9,
        };
        assert_eq!(p.wait(waiter), WaitOutcome::Waiting);
        assert_eq!(p.wait(waiter), WaitOutcome::Refused);
        assert_eq!(p.waiters().collect::<Vec<_>>(), [waiter]);
        let (freed, woken) = p.release(x).unwrap();
        assert_eq!((freed.payload.word, woken), (1, Some(waiter)));
        assert_eq!(p.release(x), None, "freed once only");
        assert_eq!(p.waiters().count(), 0);
        assert_eq!(p.in_use().count(), 3);
        assert_eq!(
            p.wait(waiter),
            WaitOutcome::FreeNow,
            "x is free again: no stall"
        );
        assert_eq!(PostPool::new(0, 0, 0, 0).next_free(a), None);
        let none = PostPool::new(2, 0, 1, 0);
        assert_eq!(
            none.next_free(Sender::Process(sender(1))),
            None,
            "an empty allotment"
        );
        let line = take(&none, Sender::Irq(0), act(7)).unwrap();
        assert_eq!(none.release(line).map(|(_, w)| w), Some(None));
        let watched = PostPool::new(1, 1, 0, 0);
        let y = take(&watched, a, act(1)).unwrap();
        let r = take(&watched, Sender::Notify(sender(0)), act(2)).unwrap();
        assert_eq!(
            watched.requests_of(sender(0)).collect::<Vec<_>>().len(),
            NOTIFY_REQUESTS as usize
        );
        assert!(watched.requests_of(sender(0)).any(|i| i == r));
        assert_eq!(watched.watch(sender(0), r), WaitOutcome::Waiting);
        assert_eq!(
            watched.watch(sender(0), r),
            WaitOutcome::Refused,
            "one watch at a time"
        );
        assert_eq!(
            watched.wait(waiter),
            WaitOutcome::Waiting,
            "a watch is not a free activity"
        );
        assert_eq!(watched.release(y).map(|(_, w)| w), Some(Some(waiter)));
        assert_eq!(watched.take_watch(y), Some(r));
        assert_eq!(watched.take_watch(y), None, "fired once");
        assert_eq!(watched.watch(sender(0), r), WaitOutcome::FreeNow);
        assert!(!watched.is_watched(sender(0)));
        assert_eq!(
            watched.take_watch(r),
            None,
            "a notification activity has no watch"
        );
        let big = PostPool::new(1, MAX_ALLOTMENT, 0, 0);
        let all: Vec<_> = (0..MAX_ALLOTMENT)
            .map(|i| take(&big, a, act(u64::from(i))))
            .collect();
        assert!(all.iter().all(Option::is_some) && take(&big, a, act(0)).is_none());
        assert!(!p.leave(waiter));
    }

    #[test]
    fn a_waiter_that_leaves_is_not_woken() {
        let p = PostPool::new(1, 1, 0, 0);
        let a = Sender::Process(sender(0));
        let x = take(&p, a, act(1)).unwrap();
        let s = Staller {
            id: sender(0),
            seq: 4,
        };
        assert_eq!(p.wait(s), WaitOutcome::Waiting);
        assert!(
            !p.leave(Staller { seq: 3, ..s }),
            "an older stall is not this one"
        );
        assert!(p.leave(s));
        assert_eq!(p.release(x).map(|(_, w)| w), Some(None));
    }
}
