//! Halting, resuming and destroying a process: taking it out of wherever it is.
//!
//! # Guarantees
//! - A halted or destroyed process leaves every queue: its run queue, the stall queue it waits
//!   on, and ownership of the queue it owns, which passes to the next in line (seed 002).
//! - A process halted in a closed wait loses its resume capability (the ticket advances); its
//!   CALL ends with `Error::Halted` when it is resumed, so no reply is delivered twice.
//! - Destroying a process wakes every sender stalled on it (their calls restart and find the
//!   endpoint Null), frees the post activities queued on it and fires the notification
//!   requests watching it (`notify.rs`).
//! - HALT and DESTROY return only when the process is off every CPU: one running on another
//!   CPU is halted and that CPU interrupted, and the caller waits until the CPU has left it
//!   (seed 001, section 5.4, without a lock held across user mode: see `halt`).
//! - Destroying a process wakes whoever waits for it to leave its CPU.
//! - A process halted with a fault message outstanding (`keeper.rs`) loses it, and its resume
//!   capability dies: when resumed it runs from its registers, at the faulting instruction
//!   unless its keeper moved it (the record itself is dropped only then: see `stop`).

use tessera_abi::message::Reply;
use tessera_abi::Error;

use crate::cap::ObjId;
use crate::cpu::Cpu;
use crate::invoke::object::{KReply, OrderResult};
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{QueueRef, Resumes, RunState, Waiter};
use crate::outcome::Refusal;
use crate::platform::{Platform, SaveArea};
use crate::run_queue::Position;
use crate::stall_queue::Owner;

impl<P: Platform> Kernel<P> {
    /// Prepare phase of halt and destroy: lock the holders of the queues `v` is in or owns,
    /// and the post pool; for a destroy, reserve the deferred wake-ups of its waiters (a
    /// queued POST freed may also fire its sender's watch) and the notifications of its watchers.
    pub(crate) fn prepare_detach(
        &self,
        cpu: &mut Cpu,
        v: ObjId,
        destroying: bool,
    ) -> Result<(), Refusal> {
        let Some((state, owns, waiters)) = self.processes.read(v, |p| {
            (
                p.state,
                p.owns,
                2 * p.senders.len() + p.leaving.len() + p.watchers.len(),
            )
        }) else {
            return Err(Error::NullArgument.into());
        };
        if let Some(q) = owns {
            self.lock_queue_holder(cpu, q)?;
        }
        if let RunState::Stalled(q) = state {
            self.lock_queue_holder(cpu, q)?;
        }
        if destroying && cpu.deferred.try_reserve(waiters + 2).is_err() {
            return Err(Error::OutOfQuota.into());
        }
        Ok(())
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

    /// HALT: stop `v` where it is. It returns only once `v` is off every CPU, so its registers
    /// are stable when the caller reads them: a `v` running on another CPU is halted at once
    /// (it cannot run again) and that CPU interrupted, and the caller waits in `v.leaving`
    /// until the CPU has left `v`, then re-runs its HALT, which completes (seed 001 section
    /// 5.4 in the event model: the waiting is a KernStall, no lock is held across it). Two
    /// processes halting each other cannot deadlock: each path holds its caller's lock, so
    /// one commits first and the other finds itself halted and backs out (`still_caller`).
    pub(crate) fn halt(&self, cpu: &mut Cpu, v: ObjId, caller: Option<ObjId>) -> OrderResult {
        cpu.held.write(self, LockKey::process(v.index))?;
        let Some((state, restart, faulted, on)) = self
            .processes
            .read(v, |p| (p.state, p.restart, p.fault.is_some(), p.cpu))
        else {
            return Err(Error::NullCapability.into());
        };
        let elsewhere = caller.is_some() && on.is_some_and(|c| c != cpu.id);
        let halted = matches!(state, RunState::Halted(_));
        let completing = caller
            .and_then(|c| self.processes.read(c, |p| p.completing))
            .flatten()
            == Some(v);
        if completing && !(halted && elsewhere) {
            // COMMIT POINT: this caller's halt of `v` is complete (`v` left its CPU; it may
            // have been resumed since, which is the resumer's business).
            return Ok(KReply::default());
        }
        if halted {
            // COMMIT POINT: nothing changes; a halt still under way is waited for, so the
            // caller never reads the registers of a `v` that still runs.
            return if elsewhere {
                Ok(KReply::wait_leaving(v))
            } else {
                Err(Error::BadState.into())
            };
        }
        self.prepare_detach(cpu, v, false)?;
        // COMMIT POINT: every queue `v` is in or owns is locked.
        self.stop(cpu, v, Self::resumes(state, restart, faulted));
        Ok(self.await_leaving(v, caller, elsewhere))
    }

    /// What a process in `state` does when resumed after a halt.
    fn resumes(state: RunState, restart: bool, faulted: bool) -> Resumes {
        match state {
            _ if faulted => Resumes::Run { restart: false },
            RunState::Running | RunState::Halted(_) => Resumes::Run { restart },
            RunState::Stalled(_) => Resumes::Run { restart: true },
            RunState::Available => Resumes::Available,
            RunState::Waiting => Resumes::CallFailed,
        }
    }

    /// The reply to a caller that has just halted `v`: done, or, if `v` still runs on another
    /// CPU, wait for it to leave and re-run (`completing` tells that re-run it is complete).
    fn await_leaving(&self, v: ObjId, caller: Option<ObjId>, elsewhere: bool) -> KReply {
        match caller {
            Some(c) if elsewhere => {
                self.processes.write(c, |p| p.completing = Some(v));
                KReply::wait_leaving(v)
            }
            _ => KReply::default(),
        }
    }

    /// DESTROY of a process (locked) that runs on another CPU halts it first and waits for
    /// that CPU to leave it, so a destroyed process never runs on; the DESTROY then re-runs
    /// and finds it halted. `None`: it runs on no other CPU, the destroy goes ahead.
    pub(crate) fn stop_before_destroy(
        &self,
        cpu: &mut Cpu,
        v: ObjId,
        caller: Option<ObjId>,
    ) -> Result<Option<KReply>, Refusal> {
        let Some((state, restart, faulted, on)) = self
            .processes
            .read(v, |p| (p.state, p.restart, p.fault.is_some(), p.cpu))
        else {
            return Ok(None);
        };
        if caller.is_none() || on.is_none_or(|c| c == cpu.id) {
            return Ok(None);
        }
        if !matches!(state, RunState::Halted(_)) {
            self.prepare_detach(cpu, v, false)?;
            // COMMIT POINT (the halt before a destroy): every queue `v` is in or owns is locked.
            self.stop(cpu, v, Self::resumes(state, restart, faulted));
        }
        Ok(Some(KReply::wait_leaving(v)))
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
            p.halts += 1;
        });
    }

    /// RESUME: `v` goes on as it was when halted.
    pub(crate) fn resume(&self, cpu: &mut Cpu, v: ObjId) -> Result<(), Refusal> {
        cpu.held.write(self, LockKey::process(v.index))?;
        let Some(state) = self.processes.read(v, |p| p.state) else {
            return Err(Error::NullCapability.into());
        };
        let RunState::Halted(resumes) = state else {
            return Err(Error::BadState.into());
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
                    self.offer(cpu, v, p);
                }
                Resumes::CallFailed => {
                    self.with_regs(cpu.id, v, p, |_, r| {
                        r.set_reply(&Reply {
                            error: Error::Halted.raw(),
                            ..Reply::default()
                        })
                    });
                    self.make_ready(cpu, v, p, Position::Tail);
                }
            }
        });
        Ok(())
    }

    /// Operate phase of destroying `v` (its bank and every queue holder locked by
    /// `prepare_detach`): detach it, wake its waiters, free its posts, free its slot.
    pub(crate) fn destroy_process(&self, cpu: &mut Cpu, v: ObjId) {
        self.detach(cpu, v);
        self.processes.write(v, |p| {
            while let Some(w) = p.leaving.take_one(&self.stall_nodes) {
                self.defer_wake(cpu, w, QueueRef::Leaving(v));
            }
            let owner = match p.senders.owner() {
                Owner::Process(Waiter::Post(i)) => {
                    self.unready_post(i);
                    Some(Waiter::Post(i))
                }
                _ => None,
            };
            for w in owner
                .into_iter()
                .chain(p.senders.take_all(&self.stall_nodes))
            {
                match w {
                    Waiter::Process(s) => self.defer_wake(cpu, s, QueueRef::Senders(v)),
                    Waiter::Post(i) => {
                        let sender = self.posts.release(i).and_then(|(_, s)| s);
                        if let Some(s) = sender {
                            self.defer_wake(cpu, s, QueueRef::PostPool);
                        }
                        if let Some(r) = self.posts.take_watch(i) {
                            cpu.deferred.push_back(crate::cpu::Deferred::Fire(r));
                        }
                    }
                }
            }
            self.fire_all_watchers(cpu, p);
        });
        if let Some(r) = self.posts.unwatch(v) {
            self.posts.release(r);
        }
        self.processes.remove(v);
    }
}
