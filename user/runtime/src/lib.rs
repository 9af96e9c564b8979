//! The Tessera user runtime, after the Tera OS runtime (seed 000): chores (stackful user-level
//! threads) on virtual processors, stacks from per-VP pools of fixed chunks, the three lock
//! classes with Table 1 enforced by types, full/empty cells, channels, suspension records and
//! a listener per VP. See `docs/RUNTIME.md`.
//!
//! Portable: nothing here names the kernel. A VP is whatever thread of control calls
//! `Runtime::run_vp` (a host thread in tests, a Tessera process in ring 3); stacks come from a
//! `StackProvider`; an idle VP waits through an `Idle`.
#![no_std]

extern crate alloc;

mod alarm_queue;
mod channel;
mod chore;
mod ctx;
mod fe;
mod id;
mod kind;
mod lock;
mod names;
mod notify;
mod run_queue;
mod runtime;
mod shared_channel;
mod stack;
mod switch;
mod sync;
mod trap;
mod vp;
mod wait;
mod wait_queue;

#[cfg(loom)]
pub mod loom_ctx;

pub use channel::{
    channel, Full, Header, Message, Receiver, RecvMode, Sender, Spin, SpinSuspend, Suspend,
    MESSAGE_WORDS,
};
pub use chore::{Chore, ChoreInfo, ChoreState};
pub use ctx::Ctx;
pub use fe::{FeOp, FeWord};
pub use id::{ChannelId, ChoreId, TaskId};
pub use kind::{ChoreKind, Driver, InKernelCall, Kind, Listener, MaySuspend, Ordinary};
pub use lock::{
    ExplicitSuspendGuard, ExplicitSuspendLock, SpinGuard, SpinLock, SpinSuspendGuard,
    SpinSuspendLock, SPIN_RETRY_LIMIT,
};
pub use names::{name_server, NameError, Names, NAME_BYTES};
pub use notify::{vp_notification, Attempt, NonBlocking, Notification, NOTIFICATION_TAG};
pub use runtime::{
    Config, FaultedChore, Idle, JoinHandle, Killed, Runtime, SpawnError, SpinIdle, StartError,
};
pub use shared_channel::{
    ring_bytes, shared_channel, SharedReceiver, SharedSender, RING_HEADER_WORDS, SLOT_WORDS,
};
pub use stack::{PoolConfig, StackChunk, StackPool, StackProvider};
pub use trap::{Trap, TrapHandler, TrapOutcome, TrapTable, DEFAULT_TRAPS};
pub use wait::{Context, Suspend as SuspendContext, Waker};
pub use wait_queue::WaitQueue;
