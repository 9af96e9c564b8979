//! Channels between tasks (seed 000 section 6.2): a ring of fixed-size messages in memory that
//! the owning task and a sending task both map. Send never blocks (a full ring returns the
//! message); only the owner receives, through its one `SharedReceiver`. A receiver that finds
//! the ring empty leaves a notification word in the ring and suspends (`call_nonblocking`); the
//! sender that fills the ring next takes the word and must POST it to the owner's listener
//! (the owner's VP endpoint), which hands it to `Runtime::deliver`: one wake per waiting
//! receiver, across address spaces, and the receiver's VP runs other chores meanwhile.
//!
//! Layout (64-bit words): 0 head (next slot to receive), 1 tail (next slot to fill), 2 the
//! waiting receiver's notification word (0: none), 3 capacity, 4..8 unused; then `capacity`
//! slots of 8 words: sender chore id, tag | len << 32, six data words.
//!
//! Guarantees: FIFO; no message lost or duplicated; a receiver suspended on an empty ring is
//! woken by the next send (the receiver publishes its word then looks again, the sender
//! publishes the message then takes the word, both sequentially consistent, so one of them
//! sees the other). Assumes: one sending task per ring (a single producer), as a sender
//! fills slots without claiming them first.

use crate::channel::{Full, Header, Message, MESSAGE_WORDS};
use crate::ctx::Ctx;
use crate::id::ChoreId;
use crate::kind::MaySuspend;
use crate::notify::{Attempt, Notification};
use crate::sync::atomic::{AtomicU64, Ordering};

const HEAD: usize = 0;
const TAIL: usize = 1;
const WAITING: usize = 2;
const CAPACITY: usize = 3;
/// Words before the first slot.
pub const RING_HEADER_WORDS: usize = 8;
/// Words per message slot.
pub const SLOT_WORDS: usize = 2 + MESSAGE_WORDS;

/// A ring in shared memory, as either side sees it.
#[derive(Debug)]
struct Ring {
    base: *const AtomicU64,
    capacity: u64,
}

// SAFETY: the ring is made of atomics shared by design; `Ring::at`'s contract keeps it mapped.
unsafe impl Send for Ring {}

impl Ring {
    fn word(&self, i: usize) -> &AtomicU64 {
        // SAFETY: `at`'s contract: the header and every slot are mapped, 8-byte aligned.
        unsafe { &*self.base.add(i) }
    }

    fn slot(&self, n: u64, k: usize) -> &AtomicU64 {
        self.word(RING_HEADER_WORDS + (n % self.capacity) as usize * SLOT_WORDS + k)
    }
}

/// Prepares the ring at `base` for `capacity` messages (the owner, once); returns the
/// owner's receiver.
///
/// # Safety
/// `base` must be 8-byte aligned, mapped read-write for `ring_bytes(capacity)` bytes for as long
/// as the receiver lives, and reached by the other task only as a `SharedSender`.
pub unsafe fn shared_channel(base: usize, capacity: u64) -> SharedReceiver {
    let ring = Ring {
        base: base as *const AtomicU64,
        capacity: capacity.max(1),
    };
    ring.word(HEAD).store(0, Ordering::Relaxed);
    ring.word(TAIL).store(0, Ordering::Relaxed);
    ring.word(WAITING).store(0, Ordering::Relaxed);
    ring.word(CAPACITY).store(ring.capacity, Ordering::Release);
    SharedReceiver { ring }
}

/// Bytes a ring of `capacity` messages takes.
pub const fn ring_bytes(capacity: u64) -> usize {
    (RING_HEADER_WORDS + capacity as usize * SLOT_WORDS) * 8
}

/// The sending side, in another task's address space (or the host tests' other thread).
#[derive(Debug)]
pub struct SharedSender {
    ring: Ring,
}

impl SharedSender {
    /// # Safety
    /// `base` must be a ring made by `shared_channel`, mapped read-write here for as long as
    /// the sender lives; no other sender may use it.
    pub unsafe fn attach(base: usize) -> SharedSender {
        let base = base as *const AtomicU64;
        // SAFETY: the caller's contract: the header is mapped.
        let capacity = unsafe { &*base.add(CAPACITY) }
            .load(Ordering::Acquire)
            .max(1);
        SharedSender {
            ring: Ring { base, capacity },
        }
    }

    /// Queues `m`, never waiting. `Ok(Some(word))`: a receiver was waiting; POST `word` to the
    /// owner's listener. `Err(Full)`: the ring is full and unchanged.
    pub fn send(&self, m: &Message) -> Result<Option<u64>, Full> {
        let r = &self.ring;
        let tail = r.word(TAIL).load(Ordering::Relaxed);
        if tail - r.word(HEAD).load(Ordering::Acquire) >= r.capacity {
            return Err(Full(*m));
        }
        r.slot(tail, 0)
            .store(m.header.sender.raw(), Ordering::Relaxed);
        r.slot(tail, 1).store(
            u64::from(m.header.tag) | u64::from(m.header.len) << 32,
            Ordering::Relaxed,
        );
        for (k, &d) in m.data.iter().enumerate() {
            r.slot(tail, 2 + k).store(d, Ordering::Relaxed);
        }
        r.word(TAIL).store(tail + 1, Ordering::SeqCst);
        let waiting = r.word(WAITING).swap(0, Ordering::SeqCst);
        Ok((waiting != 0).then_some(waiting))
    }
}

/// The owning task's receiving side: one, so one chore at a time receives.
#[derive(Debug)]
pub struct SharedReceiver {
    ring: Ring,
}

impl SharedReceiver {
    /// The next message, or `None` on an empty ring; never waits.
    pub fn try_recv(&mut self) -> Option<Message> {
        let r = &self.ring;
        let head = r.word(HEAD).load(Ordering::Relaxed);
        if head == r.word(TAIL).load(Ordering::SeqCst) {
            return None;
        }
        let sender = ChoreId::from_foreign(r.slot(head, 0).load(Ordering::Relaxed));
        let tag_len = r.slot(head, 1).load(Ordering::Relaxed);
        let mut data = [0; MESSAGE_WORDS];
        for (k, d) in data.iter_mut().enumerate() {
            *d = r.slot(head, 2 + k).load(Ordering::Relaxed);
        }
        r.word(HEAD).store(head + 1, Ordering::Release);
        let header = Header {
            sender,
            tag: tag_len as u32,
            len: (tag_len >> 32) as u32,
        };
        Some(Message { header, data })
    }

    /// The next message, suspending the chore (not its VP) while the ring is empty.
    pub fn recv<K: MaySuspend>(&mut self, ctx: &mut Ctx<K>) -> Message {
        ctx.call_nonblocking(&mut |n: Notification| {
            if let Some(m) = self.try_recv() {
                return Attempt::Done(m);
            }
            self.ring.word(WAITING).store(n.word, Ordering::SeqCst);
            match self.try_recv() {
                // A sender may have taken the word already: its POST then names a finished
                // call, which `deliver` refuses.
                Some(m) => {
                    self.ring.word(WAITING).store(0, Ordering::SeqCst);
                    Attempt::Done(m)
                }
                None => Attempt::WouldBlock,
            }
        })
    }
}
