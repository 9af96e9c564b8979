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
//! - A process waits here (`waiting`) only while every activity of its allotment is in use,
//!   and is then `Stalled(QueueRef::PostPool)`. Only it can use what its allotment frees, so
//!   there is no order among waiters and no owner to pass on.
//!
//! The activities sit behind one lock (`LockKey::POST_POOL`), taken like an object lock.

use alloc::vec::Vec;
use tessera_abi::post::PostPayload;

use crate::cap::ObjId;
use crate::object::process::Staller;
use crate::sched::Priority;
use crate::stall_queue::StallError;

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
    /// often it fires meanwhile (`irq.rs`).
    Irq(u32),
    /// The kernel posting an alarm's expiry (by alarm table index): one activity per alarm,
    /// as an expiry while the previous one is still queued merges with it (`alarms.rs`).
    Alarm(u32),
}

/// Every process's allotment of activities, then one per IRQ line, then one per alarm.
#[derive(Debug)]
pub struct PostPool {
    slots: Vec<Option<Activity>>,
    per_process: usize,
    processes: usize,
    irq_lines: usize,
    /// By allotment (process table index, then IRQ line): a bit per activity, set while free,
    /// so finding a free one is one instruction, not a walk.
    free: Vec<u64>,
    /// By process table index: the stall of a process whose allotment is all in use.
    waiting: Vec<Option<Staller>>,
}

/// The largest allotment: one free-bit word per sender.
pub const MAX_ALLOTMENT: u32 = u64::BITS;

impl PostPool {
    /// `per_process` activities (at most `MAX_ALLOTMENT`) for each of `processes` process
    /// table slots, one for each of `irq_lines` lines and one for each of `alarms` alarms.
    pub fn new(processes: usize, per_process: u32, irq_lines: usize, alarms: usize) -> PostPool {
        assert!(per_process <= MAX_ALLOTMENT, "post allotment above {MAX_ALLOTMENT}");
        let full = u64::MAX.checked_shr(u64::BITS - per_process).unwrap_or(0);
        let per = per_process as usize;
        PostPool {
            slots: (0..processes * per + irq_lines + alarms).map(|_| None).collect(),
            per_process: per,
            processes,
            irq_lines,
            free: (0..processes)
                .map(|_| full)
                .chain((0..irq_lines + alarms).map(|_| 1))
                .collect(),
            waiting: (0..processes).map(|_| None).collect(),
        }
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
        }
    }

    /// The allotment activity `id` belongs to, and its bit there.
    fn owner_of(&self, id: PostId) -> (usize, u32) {
        let i = id.0 as usize;
        let base = self.processes * self.per_process;
        if i < base {
            (i / self.per_process, (i % self.per_process) as u32)
        } else {
            (self.processes + (i - base), 0)
        }
    }

    /// The activity `sender`'s next POST would take, if one of its allotment is free.
    pub fn next_free(&self, sender: Sender) -> Option<PostId> {
        let (owner, base) = self.allotment_of(sender);
        let mask = *self.free.get(owner)?;
        (mask != 0).then(|| PostId((base + mask.trailing_zeros() as usize) as u32))
    }

    /// Takes a free activity of `sender`'s allotment for `a`; `None` if all are in use.
    pub fn take(&mut self, sender: Sender, a: Activity) -> Option<PostId> {
        let id = self.next_free(sender)?;
        let (owner, bit) = self.owner_of(id);
        self.free[owner] &= !(1 << bit);
        self.slots[id.0 as usize] = Some(a);
        Some(id)
    }

    /// Gives the one activity of kernel sender `sender` (an IRQ line or an alarm) a new
    /// payload if it is in use (still queued): a later expiry merges into it. False if free.
    pub fn merge(&mut self, sender: Sender, payload: PostPayload) -> bool {
        let (_, base) = self.allotment_of(sender);
        match (sender, self.slots.get_mut(base)) {
            (Sender::Irq(_) | Sender::Alarm(_), Some(Some(a))) => {
                a.payload = payload;
                true
            }
            _ => false,
        }
    }

    /// The activity `id`, if in use.
    pub fn get(&self, id: PostId) -> Option<&Activity> {
        self.slots.get(id.0 as usize)?.as_ref()
    }

    /// Frees `id`, returning what it carried and the process that waited for it to be freed
    /// (no longer waiting: the caller wakes it).
    pub fn release(&mut self, id: PostId) -> Option<(Activity, Option<Staller>)> {
        let a = self.slots.get_mut(id.0 as usize)?.take()?;
        let (owner, bit) = self.owner_of(id);
        self.free[owner] |= 1 << bit;
        Some((a, self.waiting.get_mut(owner).and_then(Option::take)))
    }

    /// `s` waits until an activity of its allotment is freed.
    pub fn wait(&mut self, s: Staller) -> Result<(), StallError> {
        match self.waiting.get_mut(s.id.index as usize) {
            Some(Some(_)) => Err(StallError::AlreadyQueued),
            Some(w) => {
                *w = Some(s);
                Ok(())
            }
            None => Err(StallError::NoMemory),
        }
    }

    /// `s` stops waiting (halted or destroyed). Returns whether it was waiting.
    pub fn leave(&mut self, s: Staller) -> bool {
        match self.waiting.get_mut(s.id.index as usize) {
            Some(w) if *w == Some(s) => {
                *w = None;
                true
            }
            _ => false,
        }
    }

    /// Every process waiting for its allotment.
    pub fn waiters(&self) -> impl Iterator<Item = Staller> + '_ {
        self.waiting.iter().flatten().copied()
    }

    /// Every activity in use.
    pub fn in_use(&self) -> impl Iterator<Item = (PostId, &Activity)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, a)| Some((PostId(i as u32), a.as_ref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn each_process_has_its_own_allotment() {
        let mut p = PostPool::new(3, 2, 1, 2);
        let (a, b) = (Sender::Process(sender(0)), Sender::Process(sender(1)));
        let x = p.take(a, act(1)).unwrap();
        p.take(a, act(2)).unwrap();
        assert!(p.take(a, act(3)).is_none(), "a's allotment is spent");
        assert!(p.take(b, act(4)).is_some(), "b's is its own");
        let line = p.take(Sender::Irq(0), act(5)).unwrap();
        assert!(p.take(Sender::Irq(0), act(6)).is_none(), "one activity per line");
        let alarm = p.take(Sender::Alarm(1), act(8)).unwrap();
        assert!(p.take(Sender::Alarm(1), act(9)).is_none(), "one activity per alarm");
        assert!(p.take(Sender::Alarm(0), act(10)).is_some(), "each alarm has its own");
        assert_ne!(alarm, line);
        let later = PostPayload { order: 1, word: 11 };
        assert!(p.merge(Sender::Alarm(1), later), "in use: merged");
        assert!(!p.merge(Sender::Process(sender(1)), later), "only a kernel sender's");
        assert_eq!(p.release(alarm).map(|(a, w)| (a.payload.word, w)), Some((11, None)));
        assert!(!p.merge(Sender::Alarm(1), later), "free: nothing to merge into");
        assert_eq!(p.release(line).map(|(_, w)| w), Some(None), "nobody waits for a line's");
        let waiter = Staller {
            id: sender(0),
            seq: 9,
        };
        p.wait(waiter).unwrap();
        assert_eq!(p.wait(waiter), Err(StallError::AlreadyQueued));
        let (freed, woken) = p.release(x).unwrap();
        assert_eq!((freed.payload.word, woken), (1, Some(waiter)));
        assert_eq!(p.release(x), None, "freed once only");
        assert_eq!(p.waiters().count(), 0);
        assert_eq!(p.in_use().count(), 3);
        assert_eq!(PostPool::new(0, 0, 0, 0).next_free(a), None);
        let mut none = PostPool::new(2, 0, 1, 0);
        assert_eq!(none.next_free(Sender::Process(sender(1))), None, "an empty allotment");
        let line = none.take(Sender::Irq(0), act(7)).unwrap();
        assert_eq!(none.release(line).map(|(_, w)| w), Some(None));
        let mut big = PostPool::new(1, MAX_ALLOTMENT, 0, 0);
        let all: Vec<_> = (0..MAX_ALLOTMENT).map(|i| big.take(a, act(u64::from(i)))).collect();
        assert!(all.iter().all(Option::is_some) && big.take(a, act(0)).is_none());
        assert!(!p.leave(waiter));
    }
}
