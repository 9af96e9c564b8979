//! The process object: one thread of control (EROS), with its save area, capability space,
//! address space, priority, state and the one stall queue it owns (senders waiting for it).
//!
//! # Invariants (checked by `Kernel::check_invariants`)
//! - `state` says where the process is: `Running` (current on `cpu`, or queued on the run
//!   queue of `queued_on`, never both), `Available`/`Waiting` (in no queue), `Stalled(q)` (in
//!   exactly queue `q`, or just woken from it and awaiting its deferred wake-up), `Halted`.
//! - `restart` (the KernStall state of seed 002) is set only while `Running` and not current: the
//!   invocation in the save area is re-run before the process returns to user mode.
//! - `owns` names the one queue it owns, if any (seed 002: at most one at a time).
//! - `ticket` names its current call: a resume capability whose badge differs is dead.
//! - `fault` is set only while the process is in the kernel's CALL to its keeper on its behalf
//!   (running that invocation, stalled with it, or waiting for the reply), or halted from it:
//!   then its save area holds its user registers at the fault, and the invocation is read from
//!   `fault`, not from them (`keeper.rs`). The reply, RESUME and SET_ENTRY clear it, so it is
//!   never set when the process returns to user mode.

use tessera_abi::cap::CAP_SPACE_SLOTS;
use tessera_abi::fault::Fault;
use tessera_abi::ProcessState;

use crate::cap::{Cap, ObjId};
use crate::post::PostId;
use crate::run_queue::Priority;
use crate::stall_queue::{StallQueue, Waits, WakeAllQueue};
use crate::sync::CpuId;

/// A stall queue's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueRef {
    /// The senders waiting for this process to become available.
    Senders(ObjId),
    /// The processes waiting for a free post activity.
    PostPool,
    /// The processes whose HALT or DESTROY of this process waits for it to leave the CPU it
    /// runs on (seed 001 section 5.4: `Process::leaving`).
    Leaving(ObjId),
}

/// Sets the key of a process's `leaving` queue apart from its sender queue's (its slot index).
const LEAVING_KEY: u32 = 1 << 31;
/// Sets the key of a process's `watchers` list apart from its other queues'.
const WATCHERS_KEY: u32 = 1 << 30;

/// A process as it waits on a stall queue: `seq` is the kernel-wide arrival stamp of that
/// stall, so a wake-up meant for one stall can never wake a later one, and queue order can be
/// checked against arrival order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Staller {
    /// The process.
    pub id: ObjId,
    /// The stamp of its stall.
    pub seq: u64,
}

/// Something waiting on a process's sender queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Waiter {
    /// A process stalled in CALL, SEND or POST.
    Process(Staller),
    /// A queued POST.
    Post(PostId),
}

/// A process's stall node is its table slot's; post activities' nodes follow the processes'.
impl Waits for Waiter {
    fn node(self, split: usize) -> usize {
        match self {
            Waiter::Process(s) => s.id.index as usize,
            Waiter::Post(PostId(n)) => split + n as usize,
        }
    }

    fn pack(self) -> (u32, u64) {
        match self {
            Waiter::Process(s) => (s.id.generation, s.seq),
            Waiter::Post(_) => (0, 0),
        }
    }

    fn unpack(node: usize, split: usize, tag: u32, word: u64) -> Waiter {
        match node.checked_sub(split) {
            None => Waiter::Process(Staller {
                id: ObjId {
                    index: node as u32,
                    generation: tag,
                },
                seq: word,
            }),
            Some(n) => Waiter::Post(PostId(n as u32)),
        }
    }
}

/// A process waiting on a wake-all queue has the same node as when it stalls as a sender.
impl Waits for Staller {
    fn node(self, split: usize) -> usize {
        Waiter::Process(self).node(split)
    }

    fn pack(self) -> (u32, u64) {
        Waiter::Process(self).pack()
    }

    fn unpack(node: usize, _split: usize, tag: u32, word: u64) -> Staller {
        Staller {
            id: ObjId {
                index: node as u32,
                generation: tag,
            },
            seq: word,
        }
    }
}

/// A notification request as a watchers list holds it (`notify.rs`): its activity, and the
/// generation of the process that registered it, so that a request of an earlier process in
/// the same table slot is told apart without reading its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Watcher {
    /// The request's notification activity.
    pub id: PostId,
    /// The requester's generation.
    pub generation: u32,
}

/// A request has the node its activity has when it is queued as a POST: it is in a watchers
/// list until fired, and on a sender queue after.
impl Waits for Watcher {
    fn node(self, split: usize) -> usize {
        Waiter::Post(self.id).node(split)
    }

    fn pack(self) -> (u32, u64) {
        (self.generation, 0)
    }

    fn unpack(node: usize, split: usize, tag: u32, _word: u64) -> Watcher {
        Watcher {
            id: PostId(node.saturating_sub(split) as u32),
            generation: tag,
        }
    }
}

/// What a halted process does when it is resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resumes {
    /// Goes on running (re-running its stalled invocation first if `restart` was set).
    Run {
        /// Whether the invocation in the save area is re-run.
        restart: bool,
    },
    /// Back to an open wait.
    Available,
    /// Its CALL was cut off while waiting for the reply: it ends with `Error::Halted`.
    CallFailed,
}

/// The kernel's view of a process's state (`ProcessState` is the user's view).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Current on a CPU or ready on a run queue.
    Running,
    /// Open wait.
    Available,
    /// Closed wait for the reply to call number `ticket`.
    Waiting,
    /// On a stall queue; the invocation restarts when woken.
    Stalled(QueueRef),
    /// Stopped; `Resumes` says how to go on.
    Halted(Resumes),
}

impl RunState {
    /// The user-visible state.
    pub fn visible(self) -> ProcessState {
        match self {
            RunState::Running => ProcessState::Running,
            RunState::Available => ProcessState::Available,
            RunState::Waiting => ProcessState::Waiting,
            RunState::Stalled(_) => ProcessState::Stalled,
            RunState::Halted(_) => ProcessState::Halted,
        }
    }
}

/// A process.
pub struct Process {
    /// The capability space; slot 0 stays Null.
    pub caps: [Cap; CAP_SPACE_SLOTS],
    /// The address space it runs in (Null until set).
    pub space: Cap,
    /// Scheduling priority.
    pub priority: Priority,
    /// The highest priority it may give (itself or any process) and the ceiling of the process
    /// capabilities it creates: an order it makes is bounded by this and by the ceiling of the
    /// capability it invokes.
    pub ceiling: Priority,
    /// Where it is.
    pub state: RunState,
    /// KernStall: re-run the saved invocation before returning to user mode.
    pub restart: bool,
    /// Senders waiting for it to become available (the one queue it owns).
    pub senders: StallQueue<Waiter>,
    /// The queue it owns, having been woken from its head.
    pub owns: Option<QueueRef>,
    /// Processes whose HALT or DESTROY of it committed while it ran on another CPU: they wait
    /// here until that CPU has left it, so they never see it running after their call.
    pub leaving: WakeAllQueue<Staller>,
    /// How many times it has been halted. A CPU that decided to run its call compares it when
    /// it takes the process's lock again (`Cpu::running_call`): a halt in between, even one
    /// already resumed, means the call's registers may no longer be a call.
    pub halts: u64,
    /// The process it halted that was still running on another CPU: its HALT waits in that
    /// process's `leaving` queue, and when re-run it completes instead of halting again.
    pub completing: Option<ObjId>,
    /// The stamp of its latest stall (see `Staller`).
    pub stall_seq: u64,
    /// The CPU it is current on.
    pub cpu: Option<CpuId>,
    /// The CPU whose run queue it is on.
    pub queued_on: Option<CpuId>,
    /// The CPU whose run queue it joins when woken (its `affinity` if it has one).
    pub home: CpuId,
    /// The one CPU it may run on (`SET_AFFINITY`), or `None`: any.
    pub affinity: Option<CpuId>,
    /// The current call's number (see the file header).
    pub ticket: u64,
    /// The bank it was created from.
    pub bank: ObjId,
    /// Invocations made (for `ps`).
    pub invocations: u64,
    /// Its fault endpoint (an Endpoint, or Null: no keeper).
    pub keeper: Cap,
    /// The fault message outstanding (see the file header).
    pub fault: Option<Fault>,
    /// Notification requests of non-blocking callers that found it unavailable, in
    /// registration order: fired when it becomes available or is destroyed (`notify.rs`).
    pub watchers: WakeAllQueue<Watcher>,
    /// Where its own notification requests are posted (`SET_NOTIFY`): an Endpoint, or Null.
    pub notify: Cap,
    /// The word its notifications carry.
    pub notify_word: u64,
}

impl Process {
    /// A new, halted process created from `bank`, homed on `home`, in table slot `slot`
    /// (which names its sender queue).
    pub fn new(bank: ObjId, home: CpuId, slot: u32) -> Process {
        Process {
            caps: [Cap::NULL; CAP_SPACE_SLOTS],
            space: Cap::NULL,
            priority: Priority::LOWEST,
            ceiling: Priority::HIGHEST,
            state: RunState::Halted(Resumes::Run { restart: false }),
            restart: false,
            senders: StallQueue::new(slot),
            owns: None,
            leaving: WakeAllQueue::new(LEAVING_KEY | slot),
            completing: None,
            halts: 0,
            stall_seq: 0,
            cpu: None,
            queued_on: None,
            home,
            affinity: None,
            ticket: 0,
            bank,
            invocations: 0,
            keeper: Cap::NULL,
            fault: None,
            watchers: WakeAllQueue::new(WATCHERS_KEY | slot),
            notify: Cap::NULL,
            notify_word: 0,
        }
    }
}

impl Process {
    /// Its call has not run yet, and another CPU halted it: if halted to go on running, it
    /// re-runs that call when resumed. A faulted process resumes at its faulting instruction
    /// instead, never by re-sending its fault (`keeper.rs`).
    pub fn rerun_on_resume(&mut self) {
        if let (RunState::Halted(Resumes::Run { .. }), None) = (self.state, self.fault) {
            self.state = RunState::Halted(Resumes::Run { restart: true });
        }
    }

    /// Whether it may run on `cpu`.
    pub fn may_run_on(&self, cpu: CpuId) -> bool {
        self.affinity.is_none_or(|a| a == cpu)
    }

    /// The capability in `slot`, or `None` if `slot` is out of range.
    pub fn cap(&self, slot: u64) -> Option<Cap> {
        self.caps.get(usize::try_from(slot).ok()?).copied()
    }

    /// Stores `cap` in receive slot `slot`; slot 0 (and any slot out of range) discards it.
    pub fn receive_cap(&mut self, slot: u8, cap: Cap) {
        if slot != 0 {
            if let Some(s) = self.caps.get_mut(slot as usize) {
                *s = cap;
            }
        }
    }

    /// How it appears on a stall queue now.
    pub fn staller(&self, id: ObjId) -> Staller {
        Staller {
            id,
            seq: self.stall_seq,
        }
    }

    /// Whether its registers may be read and written: it is off every CPU and either halted
    /// or in its keeper's hands (its fault message outstanding), so no one else uses them.
    pub fn registers_at_rest(&self) -> bool {
        self.cpu.is_none()
            && match self.state {
                RunState::Halted(_) => true,
                RunState::Waiting | RunState::Stalled(_) => self.fault.is_some(),
                RunState::Running | RunState::Available => false,
            }
    }

    /// Whether anyone waits for it to become available: senders, or notification requests.
    #[inline]
    pub fn awaited(&self) -> bool {
        !self.senders.is_empty() || !self.watchers.is_empty()
    }

    /// Whether a message from `sender` may be delivered now: it is in an open wait and the
    /// sender would not barge past waiters (seed 002).
    pub fn may_receive_from(&self, sender: Waiter) -> bool {
        self.state == RunState::Available && self.senders.may_take(sender)
    }
}
