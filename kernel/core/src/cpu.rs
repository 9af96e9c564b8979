//! Per-CPU state: `Cpu`, which only its own CPU touches (through `&mut`), and `PerCpu`, the
//! part other CPUs and interrupt handlers reach (run queue, needResched, pendingIRQs).
//!
//! # Invariants
//! - At kernel exit `held` is empty and `deferred` is drained: nothing is held past exit.
//! - `current` is the process this CPU runs (its `cpu` field names this CPU) or `None` (idle).
//! - `next_alarm` is the nearest deadline in `alarms` (`u64::MAX` if empty), updated under the
//!   queue's lock whenever it changes, so the exit path looks at one word, not the lock.
//! - The interrupt handler touches only `pending_irqs`, `need_resched`, `ticks_left` and `ticks`
//!   (seed 001: no kernel structure relies on interrupts being off).

use alloc::collections::VecDeque;
use spin::mutex::SpinMutex;

use crate::alarm_queue::AlarmQueue;
use crate::cap::ObjId;
use crate::lock_key::LockKey;
use crate::object::process::{QueueRef, Staller};
use crate::post::PostId;
use crate::ready::ReadyQueue;
use crate::run_queue::{Priority, RunQueue};
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use crate::sync::{CpuId, HeldLocks};

/// Most locks one kernel path takes: caller, target, an owned queue's holder, the post pool,
/// and room for the destroy path's bank and victim.
pub const MAX_HELD: usize = 8;

/// Deferred wake-ups reserved per CPU before any path runs; a path needing more reserves them
/// in its prepare phase.
pub const DEFERRED_RESERVE: usize = 64;

/// A process removed from a stall queue by another path: as the queue's new owner, or because
/// the queue's process was destroyed. It is made ready at kernel exit if it still waits there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    /// Who, as queued.
    pub who: Staller,
    /// The queue it left.
    pub from: QueueRef,
    /// The least priority it is made ready at: a new owner of a sender queue is queued at its
    /// holder's priority if that is higher (`Kernel::offer`).
    pub boost: Priority,
}

/// Work a path leaves for the kernel exit, where each piece is locked alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deferred {
    /// Make a process ready if it still waits where it did.
    Wake(Wake),
    /// This process has left the CPU it ran on: wake whoever waits for that (its `leaving`).
    Left(ObjId),
    /// This process became available: post the notification requests registered on it before
    /// stamp `upto` (later ones found it busy again after this), one at a time (`notify.rs`).
    Notify {
        /// The process.
        object: ObjId,
        /// The stamp taken when it became available.
        upto: u64,
    },
    /// Post this notification request, taken off what it watched (`notify.rs`).
    Fire(crate::post::PostId),
}

/// The state only this CPU touches.
pub struct Cpu {
    /// Which CPU.
    pub id: CpuId,
    /// Locks held by the current kernel path (lock order: `sync/mod.rs`).
    pub(crate) held: HeldLocks<LockKey, MAX_HELD>,
    /// The process running here.
    pub(crate) current: Option<ObjId>,
    /// Wake-ups to run at exit, in order.
    pub(crate) deferred: VecDeque<Deferred>,
    /// The call this CPU has decided to run, while it runs: the caller, its halt count then,
    /// and whether it is a fault's CALL. Between the decision and each run of the invocation
    /// path the caller's lock is dropped (a re-run decided at exit, a restart on contention),
    /// and another CPU may halt and even resume the caller meanwhile (`still_caller`).
    pub(crate) running_call: Option<(ObjId, u64, bool)>,
    /// System calls a fast path ran (`invoke/fastpath.rs`): the differential tests check that
    /// the fast paths did run.
    pub(crate) fast_runs: u64,
}

impl Cpu {
    /// CPU `id`'s state, idle.
    pub fn new(id: CpuId) -> Cpu {
        Cpu {
            id,
            held: HeldLocks::new(),
            current: None,
            deferred: VecDeque::with_capacity(DEFERRED_RESERVE),
            running_call: None,
            fast_runs: 0,
        }
    }

    /// The process running here.
    pub fn current(&self) -> Option<ObjId> {
        self.current
    }

    /// How many locks the current path holds (zero outside the kernel).
    pub fn held_locks(&self) -> usize {
        self.held.len()
    }

    /// How many system calls a fast path ran here.
    pub fn fast_runs(&self) -> u64 {
        self.fast_runs
    }

    /// How many wake-ups are waiting for the exit path (zero outside the kernel).
    pub fn deferred_wakes(&self) -> usize {
        self.deferred.len()
    }
}

/// What a priority word holds when the CPU is idle.
pub const IDLE: u32 = u32::MAX;

/// The state other CPUs and interrupt handlers reach.
pub struct PerCpu {
    /// Ready processes homed here, and which levels hold one (`ready.rs`).
    pub(crate) run: ReadyQueue,
    /// Ready post activities whose recipients are homed here (`post_run.rs`). Leaf lock (level
    /// 7, like `run`).
    pub(crate) posts: SpinMutex<RunQueue<PostId>>,
    /// How many activities `posts` holds, written under its lock: the scheduler looks at this
    /// word, not the lock, while none is ready.
    pub(crate) ready_posts: AtomicU32,
    /// Reschedule at the next kernel exit.
    pub(crate) need_resched: AtomicBool,
    /// One bit per IRQ line that fired and is not yet posted.
    pub(crate) pending_irqs: AtomicU64,
    /// Priority of the process running here, or `IDLE`.
    pub(crate) running_priority: AtomicU32,
    /// Timer ticks left in the running process's slice.
    pub(crate) ticks_left: AtomicU32,
    /// Alarms armed on this CPU. Leaf lock (level 7, like the run queue): held alone, briefly.
    pub(crate) alarms: SpinMutex<AlarmQueue>,
    /// The nearest deadline in `alarms`, or `u64::MAX`.
    pub(crate) next_alarm: AtomicU64,
    /// Timer ticks taken here since boot: the clock of stall-queue reservations.
    pub(crate) ticks: AtomicU64,
    /// The tick at which the oldest reservation of an owner queued here runs out (`u64::MAX`
    /// if none), written under the run queue's lock (`dispatch.rs`, "Reservations").
    pub(crate) reserved_until: AtomicU64,
}

impl PerCpu {
    /// An idle CPU whose run queues have room for `processes` processes and `activities` post
    /// activities, and its alarm queue for `alarms` alarms.
    pub fn new(processes: usize, activities: usize, alarms: usize) -> PerCpu {
        PerCpu {
            run: ReadyQueue::new(processes),
            posts: SpinMutex::new(RunQueue::new(activities)),
            ready_posts: AtomicU32::new(0),
            need_resched: AtomicBool::new(false),
            pending_irqs: AtomicU64::new(0),
            running_priority: AtomicU32::new(IDLE),
            ticks_left: AtomicU32::new(0),
            alarms: SpinMutex::new(AlarmQueue::new(alarms)),
            next_alarm: AtomicU64::new(u64::MAX),
            ticks: AtomicU64::new(0),
            reserved_until: AtomicU64::new(u64::MAX),
        }
    }

    /// Asks for a reschedule at this CPU's next exit.
    pub(crate) fn request_resched(&self) {
        self.need_resched.store(true, Ordering::Release);
    }

    /// Takes the reschedule request.
    pub(crate) fn take_resched(&self) -> bool {
        self.need_resched.swap(false, Ordering::AcqRel)
    }
}

impl From<PostId> for usize {
    fn from(id: PostId) -> usize {
        id.0 as usize
    }
}

impl From<ObjId> for usize {
    fn from(id: ObjId) -> usize {
        id.index as usize
    }
}
