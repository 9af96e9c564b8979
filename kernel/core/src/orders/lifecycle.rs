//! Halting, resuming and destroying a process: taking it out of wherever it is.
//!
//! # Guarantees
//! - A halted or destroyed process leaves every queue: its run queue, the stall queue it waits
//!   on, and ownership of the queue it owns, which passes to the next in line (seed 002).
//! - A process halted in a closed wait loses its resume capability (the ticket advances); its
//!   CALL ends with `Error::Halted` when it is resumed, so no reply is delivered twice.
//! - Destroying a process wakes every sender stalled on it (their calls restart and find the
//!   endpoint Null) and frees the post activities queued on it.
//! - A process running on another CPU is marked and that CPU is interrupted; it stops at its
//!   next kernel exit (seed 001, section 5.4, without a lock held across user mode).
//! - A process halted with a fault message outstanding (`keeper.rs`) loses it, and its resume
//!   capability dies: when resumed it runs from its registers, at the faulting instruction
//!   unless its keeper moved it (the record itself is dropped only then: see `stop`).

use tessera_abi::message::Reply;
use tessera_abi::Error;

use crate::cap::ObjId;
use crate::cpu::Cpu;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{QueueRef, Resumes, RunState, Waiter};
use crate::platform::{Platform, SaveArea};
use crate::sched::Position;
use crate::sync::Restart;

impl<P: Platform> Kernel<P> {
    /// Prepare phase of halt and destroy: lock the holders of the queues `v` is in or owns,
    /// and the post pool; for a destroy, reserve the deferred wake-ups of its waiters.
    pub(crate) fn prepare_detach(
        &self,
        cpu: &mut Cpu,
        v: ObjId,
        destroying: bool,
    ) -> Result<Result<(), Error>, Restart> {
        let Some((state, owns, waiters)) = self
            .processes
            .read(v, |p| (p.state, p.owns, p.senders.len()))
        else {
            return Ok(Err(Error::NullArgument));
        };
        if let Some(q) = owns {
            self.lock_queue_holder(cpu, q)?;
        }
        if let RunState::Stalled(q) = state {
            self.lock_queue_holder(cpu, q)?;
        }
        cpu.held.write(self, LockKey::POST_POOL)?;
        if destroying && cpu.deferred.try_reserve(waiters + 2).is_err() {
            return Ok(Err(Error::OutOfQuota));
        }
        Ok(Ok(()))
    }

    /// Takes `v` out of its run queue, its CPU, the queue it waits on and the queue it owns.
    pub(crate) fn detach(&self, cpu: &mut Cpu, v: ObjId) {
        let Some((state, owns, staller, on_cpu, queued_on)) = self.processes.write(v, |p| {
            if p.state == RunState::Waiting {
                p.ticket += 1;
            }
            (
                p.state,
                p.owns.take(),
                p.staller(v),
                p.cpu,
                p.queued_on.take(),
            )
        }) else {
            return;
        };
        if let Some(c) = queued_on {
            self.shared(c).run.lock().remove(v);
        }
        if let Some(x) = on_cpu {
            self.shared(x).request_resched();
            if x != cpu.id {
                self.platform.send_ipi(x);
            }
        }
        if let RunState::Stalled(q) = state {
            self.relinquish(cpu, q, staller);
        }
        if let Some(q) = owns {
            self.relinquish(cpu, q, staller);
        }
    }

    /// HALT: stop `v` where it is.
    pub(crate) fn halt(&self, cpu: &mut Cpu, v: ObjId) -> Result<Result<(), Error>, Restart> {
        cpu.held.write(self, LockKey::process(v.index))?;
        let Some((state, restart, faulted)) = self
            .processes
            .read(v, |p| (p.state, p.restart, p.fault.is_some()))
        else {
            return Ok(Err(Error::NullCapability));
        };
        let resumes = match state {
            RunState::Halted(_) => return Ok(Err(Error::BadState)),
            _ if faulted => Resumes::Run { restart: false },
            RunState::Running => Resumes::Run { restart },
            RunState::Stalled(_) => Resumes::Run { restart: true },
            RunState::Available => Resumes::Available,
            RunState::Waiting => Resumes::CallFailed,
        };
        if let Err(e) = self.prepare_detach(cpu, v, false)? {
            return Ok(Err(e));
        }
        // COMMIT POINT: every queue `v` is in or owns is locked.
        self.stop(cpu, v, resumes);
        Ok(Ok(()))
    }

    /// Operate phase of a halt (every queue `v` is in or owns locked by `prepare_detach`). A
    /// fault record stays until RESUME: a CPU that was about to re-run the fault's CALL when
    /// the halt came must still find the CALL there, never the user registers, in the save area.
    pub(crate) fn stop(&self, cpu: &mut Cpu, v: ObjId, resumes: Resumes) {
        trace_event!(self, cpu.id, Halt, v.index, 0, 0);
        self.detach(cpu, v);
        self.processes.write(v, |p| {
            p.state = RunState::Halted(resumes);
            p.restart = false;
        });
    }

    /// RESUME: `v` goes on as it was when halted.
    pub(crate) fn resume(&self, cpu: &mut Cpu, v: ObjId) -> Result<Result<(), Error>, Restart> {
        cpu.held.write(self, LockKey::process(v.index))?;
        cpu.held.write(self, LockKey::POST_POOL)?;
        let Some(state) = self.processes.read(v, |p| p.state) else {
            return Ok(Err(Error::NullCapability));
        };
        let RunState::Halted(resumes) = state else {
            return Ok(Err(Error::BadState));
        };
        // COMMIT POINT: `v` is locked and halted.
        trace_event!(self, cpu.id, Resume, v.index, 0, 0);
        self.processes.write(v, |p| {
            p.fault = None;
            match resumes {
                Resumes::Run { restart } => {
                    p.restart = restart;
                    self.make_ready(cpu, v, p, Position::Tail);
                }
                Resumes::Available => {
                    p.state = RunState::Available;
                    self.posts.write(|pool| self.offer(cpu, v, p, pool));
                }
                Resumes::CallFailed => {
                    p.save.set_reply(&Reply {
                        error: Error::Halted.raw(),
                        ..Reply::default()
                    });
                    self.make_ready(cpu, v, p, Position::Tail);
                }
            }
        });
        Ok(Ok(()))
    }

    /// Operate phase of destroying `v` (its bank and every queue holder locked by
    /// `prepare_detach`): detach it, wake its waiters, free its posts, free its slot.
    pub(crate) fn destroy_process(&self, cpu: &mut Cpu, v: ObjId) {
        self.detach(cpu, v);
        self.processes.read(v, |p| {
            for w in p.senders.waiters() {
                match w {
                    Waiter::Process(s) => self.defer_wake(cpu, s, QueueRef::Senders(v)),
                    Waiter::Post(i) => {
                        let sender = self.posts.write(|pool| pool.release(i)).and_then(|(_, s)| s);
                        if let Some(s) = sender {
                            self.defer_wake(cpu, s, QueueRef::PostPool);
                        }
                    }
                }
            }
        });
        self.processes.remove(v);
    }
}
