//! Message channels (seed 000 section 6.2): a queue of fixed-size messages (header + data),
//! identified by a `ChannelId` and owned by a task. Any chore holding a `Sender` may send;
//! only holders of the `Receiver`, which never leaves the owning task's address space, receive.
//!
//! Guarantees: `send` never blocks: a full channel returns the message in an error and the
//! channel is unchanged. A message sent while receivers are suspended goes straight to the
//! first of them, which is woken (exactly one wake per message, in arrival order); otherwise
//! it is queued, FIFO. Receive: `try_recv` never waits; `recv` waits as its mode says:
//! `Spin` (any context), `Suspend` or `SpinSuspend` (suspending contexts only, by type).
//! Lock order: the channel's `RawSpin` alone (then the woken receiver's ready list).

use alloc::collections::VecDeque;
use alloc::sync::Arc;

use crate::id::{ChannelId, ChoreId};
use crate::lock::SPIN_RETRY_LIMIT;
use crate::sync::atomic::spin_loop;
use crate::sync::{RawSpin, RawSpinGuard};
use crate::wait::{check_no_spin_held, spin_tries, Context, Suspend as SuspendCtx, Waker};

/// Data words in a message: with the header, a message is 64 bytes, one cache line.
pub const MESSAGE_WORDS: usize = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub sender: ChoreId,
    pub tag: u32,
    pub len: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub data: [u64; MESSAGE_WORDS],
}

impl Message {
    pub fn new(sender: ChoreId, tag: u32, data: [u64; MESSAGE_WORDS]) -> Message {
        Message {
            header: Header {
                sender,
                tag,
                len: MESSAGE_WORDS as u32,
            },
            data,
        }
    }
}

/// The channel was full; the message comes back untouched.
#[derive(Debug, PartialEq, Eq)]
pub struct Full(pub Message);

struct Receiving {
    waker: Waker,
    /// Where the sender hands the message over: a slot in the suspended receiver's frame.
    slot: *mut Option<Message>,
}

struct State {
    queue: VecDeque<Message>,
    receivers: VecDeque<Receiving>,
}

// SAFETY: a receiver's slot is written only under the channel lock by the sender that pops
// its record, and read by the receiver only after that sender's wake.
unsafe impl Send for State {}

struct Channel {
    id: ChannelId,
    capacity: usize,
    /// Protects the queued messages and the suspended receivers' records.
    state: RawSpin<State>,
}

#[derive(Clone)]
pub struct Sender(Arc<Channel>);

#[derive(Clone)]
pub struct Receiver(Arc<Channel>);

/// Makes a channel of `capacity` messages (at least 1).
pub fn channel(id: ChannelId, capacity: usize) -> (Sender, Receiver) {
    let capacity = capacity.max(1);
    let ch = Arc::new(Channel {
        id,
        capacity,
        state: RawSpin::new(State {
            queue: VecDeque::with_capacity(capacity),
            receivers: VecDeque::new(),
        }),
    });
    (Sender(ch.clone()), Receiver(ch))
}

impl Sender {
    pub fn id(&self) -> ChannelId {
        self.0.id
    }

    pub fn send(&self, message: Message) -> Result<(), Full> {
        let mut s = self.0.state.lock();
        if !s.receivers.is_empty() {
            Self::hand_over(s, message);
            return Ok(());
        }
        if s.queue.len() == self.0.capacity {
            return Err(Full(message));
        }
        s.queue.push_back(message);
        Ok(())
    }

    /// Gives `message` to the first suspended receiver and wakes it (out of line: the plain
    /// send stays short).
    #[inline(never)]
    fn hand_over(mut s: RawSpinGuard<'_, State>, message: Message) {
        let Some(r) = s.receivers.pop_front() else {
            unreachable!("hand_over is called with a receiver waiting");
        };
        debug_assert!(
            s.queue.is_empty(),
            "a receiver waits on a non-empty channel"
        );
        // SAFETY: the slot lives in the frame of a receiver parked on this channel, which
        // stays parked (its frame alive) until the wake below.
        unsafe { *r.slot = Some(message) };
        drop(s);
        r.waker.wake();
    }
}

/// How a blocking receive waits on an empty channel (the seed's SPIN / SUSPEND / SPIN_SUSPEND).
pub trait RecvMode<C: Context> {
    fn wait(self, receiver: &Receiver, ctx: &mut C) -> Message;
}

/// Busy-wait: any context.
#[derive(Clone, Copy, Debug)]
pub struct Spin;
/// Suspend at once: suspending contexts only.
#[derive(Clone, Copy, Debug)]
pub struct Suspend;
/// Spin up to the retry limit, then suspend: suspending contexts only.
#[derive(Clone, Copy, Debug)]
pub struct SpinSuspend;

impl<C: Context> RecvMode<C> for Spin {
    fn wait(self, receiver: &Receiver, _ctx: &mut C) -> Message {
        loop {
            if let Some(m) = receiver.try_recv() {
                return m;
            }
            spin_loop();
        }
    }
}

impl<C: SuspendCtx> RecvMode<C> for Suspend {
    fn wait(self, receiver: &Receiver, ctx: &mut C) -> Message {
        receiver.suspend(ctx)
    }
}

impl<C: SuspendCtx> RecvMode<C> for SpinSuspend {
    fn wait(self, receiver: &Receiver, ctx: &mut C) -> Message {
        for _ in 0..spin_tries(ctx, SPIN_RETRY_LIMIT) {
            if let Some(m) = receiver.try_recv() {
                return m;
            }
            spin_loop();
        }
        receiver.suspend(ctx)
    }
}

impl Receiver {
    pub fn id(&self) -> ChannelId {
        self.0.id
    }

    pub fn try_recv(&self) -> Option<Message> {
        self.0.state.lock().queue.pop_front()
    }

    pub fn recv<C: Context, M: RecvMode<C>>(&self, ctx: &mut C, mode: M) -> Message {
        mode.wait(self, ctx)
    }

    pub fn len(&self) -> usize {
        self.0.state.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Receivers suspended on the channel now.
    pub fn waiting(&self) -> usize {
        self.0.state.lock().receivers.len()
    }

    fn suspend<C: SuspendCtx>(&self, ctx: &mut C) -> Message {
        let mut s = self.0.state.lock();
        if let Some(m) = s.queue.pop_front() {
            return m;
        }
        self.park_receiver(ctx, s)
    }

    /// Suspends the caller on the empty channel `s` guards until a sender hands it a message
    /// (out of line: a receive that finds a message stays short).
    #[inline(never)]
    fn park_receiver<C: SuspendCtx>(&self, ctx: &mut C, mut s: RawSpinGuard<'_, State>) -> Message {
        check_no_spin_held(ctx);
        let mut slot = None;
        s.receivers.push_back(Receiving {
            waker: ctx.waker(),
            slot: &mut slot,
        });
        ctx.park(s);
        match slot {
            Some(m) => m,
            None => unreachable!("a receiver on {} was woken without a message", self.0.id),
        }
    }
}
