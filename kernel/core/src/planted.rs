//! Planted bugs (feature `planted-bugs`, for tests only: the simulator's, and the core's
//! `tests/notify_race.rs`): each breaks one rule of stall queues with an owner (seed 002), of
//! derived mappings, of CPU affinity, of alarms or of notification requests, or re-opens a race
//! between CPUs, so a test can assert that its checks catch it. Off unless switched on.

use crate::cap::ObjId;
use crate::cpu::Cpu;
use crate::kernel::Kernel;
use crate::object::process::{Process, QueueRef, Staller, Waiter};
use crate::platform::Platform;
use crate::sync::atomic::{AtomicU32, Ordering};

/// A bug to plant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// When a process becomes available, wake the tail of its sender queue, not the head.
    WakeTail = 1,
    /// Give up a woken head's ownership at once instead of when it uses the resource.
    EarlyRelease = 2,
    /// Free a queued post activity without delivering it.
    LosePost = 3,
    /// Enter the invocation path again (a re-run or a restart) without checking that no other
    /// CPU halted the caller while its lock was dropped (issue 7, item 2): the halt is lost.
    LoseHalt = 4,
    /// Run a process `pick` took off a run queue without checking that it was queued again
    /// meanwhile (halted and resumed by another CPU): it runs here and waits in a queue at once
    /// (the race fixed in d71b16a).
    DispatchRace = 5,
    /// Destroy a page without dropping its derived mappings (its reverse map is ignored).
    KeepMappingsOfDestroyedPage = 8,
    /// Take a fault without saving the registers at the fault into the save area (which keeps
    /// those of the last kernel entry): a trap path that forgot to save, planted in the entry
    /// the simulator plays (`framed.rs`).
    FaultLosesRegisters = 9,
    /// Drop a fault whose keeper endpoint is dead: the process is neither halted nor given to
    /// a keeper, and goes back to user mode as if the fault had been handled.
    DropFaultOfDeadKeeper = 10,
    /// An idle CPU steals from another CPU's queue whatever is first, pinned or not, and runs
    /// it: a process runs off its affinity.
    StealPinned = 12,
    /// Post an expired alarm twice.
    FireAlarmTwice = 13,
    /// Fire alarms up to 1 µs before their deadline.
    FireAlarmEarly = 14,
    /// The CALL/RETURN fast path delivers one data word fewer than sent.
    FastPathDropsWord = 15,
    /// The CALL/RETURN fast path switches to the receiver even when a process of its priority
    /// or higher is ready on this CPU (the general path would run that one first).
    FastPathIgnoresReady = 16,
    /// Post an IRQ line again while its driver has not ACKed the last POST of it.
    PostIrqBeforeAck = 21,
    /// The direct IRQ post (`pending_irqs.rs`, without the held-lock list) forgets that the
    /// line awaits its driver's ACK and posts it again.
    DirectIrqIgnoresAck = 24,
    /// A process that becomes available does not fire the notification requests watching it
    /// (a lost wake-up of a non-blocking caller).
    LoseNotification = 17,
    /// A woken owner of a stall queue keeps it however long it waits for a CPU (seed 002's
    /// bound on ownership is not applied: `scheduler.rs`, "Reservations").
    UnboundedOwnership = 22,
    /// A non-blocking CALL or SEND that found its target busy drops its locks and takes them
    /// again before it registers its request, without checking again: a target that became
    /// available in between fired no request, and this one waits for the next time.
    RegisterUnlocked = 23,
}

/// Which bug is planted (0: none).
#[derive(Debug, Default)]
pub struct Switch(AtomicU32);

impl<P: Platform> Kernel<P> {
    /// Plants `bug` (or removes every bug with `None`).
    pub fn plant(&self, bug: Option<PlantedBug>) {
        self.planted
            .0
            .store(bug.map_or(0, |b| b as u32), Ordering::Relaxed);
    }

    pub(crate) fn planted_is(&self, bug: PlantedBug) -> bool {
        self.planted.0.load(Ordering::Relaxed) == bug as u32
    }

    /// `StealPinned`, or false without the feature.
    pub(crate) fn ignores_affinity(&self) -> bool {
        self.planted_is(PlantedBug::StealPinned)
    }

    /// `WakeTail`: wakes the last waiting process instead of handing the queue to the head.
    pub(crate) fn planted_offer(&self, cpu: &mut Cpu, t_id: ObjId, t: &mut Process) -> bool {
        if !self.planted_is(PlantedBug::WakeTail) || t.senders.len() < 2 {
            return false;
        }
        match t.senders.waiters(&self.stall_nodes).last() {
            Some(Waiter::Process(s)) => {
                t.senders.remove(&self.stall_nodes, Waiter::Process(s));
                self.defer_wake(cpu, s, QueueRef::Senders(t_id));
                true
            }
            _ => false,
        }
    }

    /// `EarlyRelease`: the woken head loses ownership before it has used the resource.
    pub(crate) fn planted_woken(&self, t: &mut Process, s: Staller) {
        if self.planted_is(PlantedBug::EarlyRelease) {
            t.senders.give_back(Waiter::Process(s));
        }
    }
}
