//! Deferred wake-ups, run at kernel exit (DESIGN.md "Exit: run deferred work").
//!
//! A path that hands a stall queue to its next waiter, or destroys a process others wait on,
//! does not lock those waiters: it records them on its CPU's deferred list. Here each is
//! locked alone and made ready (KernStall: its call re-runs) if it still waits where it was:
//! same queue, same stall (`Staller::seq`). Otherwise it has moved on (halted, destroyed,
//! woken already) and the record is dropped.
//!
//! A process that leaves the CPU it ran on while others wait for that (`Process::leaving`: a
//! HALT or DESTROY that committed while it ran here) leaves one `Deferred::Left` record; its
//! waiters are taken off one at a time, each under the process's lock, and woken like any
//! other, so the record needs no memory however many wait.

use crate::cap::ObjId;
use crate::cpu::{Cpu, Deferred, Wake};
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{Process, QueueRef, RunState};
use crate::platform::Platform;
use crate::run_queue::Position;
use crate::sync::atomic::{spin_loop, Ordering};
use crate::sync::Restart;

impl<P: Platform> Kernel<P> {
    /// Runs every deferred wake-up of this CPU, in order.
    pub(crate) fn run_deferred(&self, cpu: &mut Cpu) {
        while let Some(d) = cpu.deferred.pop_front() {
            match d {
                Deferred::Wake(w) => self.retry(cpu, |k, cpu| k.wake_deferred(cpu, w)),
                Deferred::Left(v) => {
                    while let Some(w) = self.retry(cpu, |k, cpu| k.next_leaving_waiter(cpu, v)) {
                        self.retry(cpu, |k, cpu| k.wake_deferred(cpu, w));
                    }
                }
                Deferred::Notify { object, upto } => self.notify_watchers(cpu, object, upto),
                Deferred::Fire(id) => self.retry(cpu, |k, cpu| k.post_notification(cpu, id)),
            }
        }
    }

    /// Runs one locked step until it gets through without contention; nothing stays held.
    /// Every exit-time job that locks alone (wake-ups, IRQ posts, alarms) goes through here.
    pub(crate) fn retry<R>(
        &self,
        cpu: &mut Cpu,
        step: impl Fn(&Self, &mut Cpu) -> Result<R, Restart>,
    ) -> R {
        loop {
            let done = step(self, cpu);
            cpu.held.release_all(self);
            match done {
                Ok(r) => return r,
                Err(Restart) => spin_loop(),
            }
        }
    }

    /// Takes the next process waiting for `v` to leave its CPU off `v`'s queue.
    fn next_leaving_waiter(&self, cpu: &mut Cpu, v: ObjId) -> Result<Option<Wake>, Restart> {
        cpu.held.write(self, LockKey::process(v.index))?;
        // COMMIT POINT: one lock; the waiter taken off is woken by the next step if it still
        // waits there (a halt in between leaves it halted).
        Ok(self
            .processes
            .write(v, |p| p.leaving.take_one(&self.stall_nodes))
            .flatten()
            .map(|who| Wake {
                who,
                from: QueueRef::Leaving(v),
                boost: crate::run_queue::Priority::LOWEST,
            }))
    }

    /// `p` (locked) is no longer current on any CPU; whoever waits for that is woken at this
    /// CPU's exit. Every path that takes a process off its CPU goes through here.
    #[inline]
    pub(crate) fn left_cpu(&self, cpu: &mut Cpu, id: ObjId, p: &mut Process) {
        p.cpu = None;
        if !p.leaving.is_empty() {
            cpu.deferred.push_back(Deferred::Left(id));
        }
    }

    /// Marks `owner`, just queued on CPU `c` as a queue's owner, so that its reservation ends
    /// if it waits there a full quantum (`dispatch.rs`, "Reservations").
    #[cold]
    #[inline(never)]
    fn reserve(&self, c: crate::sync::CpuId, owner: ObjId) {
        let shared = self.shared(c);
        let mut run = shared.run.lock();
        let now = shared.ticks.load(Ordering::Relaxed);
        if run.reserve(owner, now) {
            let until = now + u64::from(crate::run_queue::DEFAULT_QUANTUM_TICKS);
            shared.reserved_until.fetch_min(until, Ordering::AcqRel);
        }
    }

    fn wake_deferred(&self, cpu: &mut Cpu, w: Wake) -> Result<(), Restart> {
        cpu.held.write(self, LockKey::process(w.who.id.index))?;
        // COMMIT POINT: one lock, and the check below decides everything.
        self.processes.write(w.who.id, |p| {
            if p.state == RunState::Stalled(w.from) && p.stall_seq == w.who.seq {
                p.restart = true;
                // A woken sender owns the queue it left; the pool has nothing to own (`post.rs`).
                let owner = matches!(w.from, QueueRef::Senders(_));
                if owner {
                    p.owns = Some(w.from);
                }
                trace_event!(self, cpu.id, Wake, w.who.id.index, 0, 0);
                let at = p.priority.max(w.boost);
                self.make_ready_at(cpu, w.who.id, p, Position::Tail, at);
                if let Some(c) = p.queued_on.filter(|_| owner) {
                    self.reserve(c, w.who.id);
                }
            }
        });
        Ok(())
    }
}
