//! The invocation paths: decode the saved registers, then CALL, RETURN, SEND or POST.
//!
//! Every path is prepare -> commit point -> operate (seed 001, sections 4 to 6), and its
//! prepare is two phases (`sync/held_locks.rs`, "Phases"):
//! - The **marshal phase** locks the caller for writing (the self-lock: it is the one object
//!   every path changes, its reply or its state) and reads nothing else: the invocation is
//!   decoded and its capabilities copied out of the caller by value (`marshal.rs`).
//! - The **operation phase** (`HeldLocks::operate`) takes the operation's locks, ascending or
//!   tried: the holder of a queue the caller owns, then the invoked object (`send.rs`,
//!   `reply.rs`, or the order's own in `orders/`). It re-prepares under them what the marshal
//!   phase copied: a target found dead is Null, a reply target no longer waiting drops the
//!   reply, an argument found dead acts as Null (seed 001 section 6.2). It checks everything
//!   and reserves what the operation needs. A failure changes nothing: the path returns an
//!   error to the caller, stalls it, or returns `Restart` and is re-run from scratch.
//! - Each path says what happens next with `outcome::Next`; an order refuses with
//!   `outcome::Refusal`.
//! - The commit point is marked `// COMMIT POINT` in each path.
//! - Operate mutates, delivers and wakes; it cannot fail, block or allocate. Wake-ups of
//!   processes not locked by the path are deferred to kernel exit (`wake.rs`).
//! - CALL and RETURN have a fast path (`fastpath.rs`), tried at the syscall entry before
//!   this general one, with the same outcome wherever its preconditions hold.
//!
//! # Assumptions
//! - The caller's registers are in its save area; the path reads them only from there, so a
//!   stalled call restarts from exactly the same state (KernStall, seed 002).

pub(crate) mod deliver;
pub(crate) mod fastpath;
mod marshal;
pub(crate) mod object;
mod reply;
mod send;

use tessera_abi::message::Reply;
use tessera_abi::{CapType, Error, InvocationKind};

use crate::cap::{Cap, ObjId};
use crate::cpu::{Cpu, IDLE};
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{Process, QueueRef, RunState, Staller, Waiter};
use crate::outcome::Next;
use crate::platform::{Platform, SaveArea};
use crate::sync::atomic::{spin_loop, Ordering};
use crate::sync::{CpuId, Restart};

pub(crate) use marshal::Msg;

/// What the marshal phase read from the caller.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    pub id: ObjId,
    /// The queue it owns on entry (woken from its head), whose holder the path has locked.
    pub owns: Option<QueueRef>,
    /// How it appears on a stall queue (its seq on entry).
    pub staller: Staller,
}

impl<P: Platform> Kernel<P> {
    /// The `Invoked` trace event of `me`'s invocation of `order` on `target`, at its commit
    /// point (the general path and every fast path that commits record it alike).
    #[inline]
    pub(crate) fn trace_invoked(&self, cpu: CpuId, me: ObjId, target: Cap, order: u32) {
        trace_event!(
            self,
            cpu,
            Invoked,
            me.index,
            target.ty as u64,
            u64::from(order)
        );
        #[cfg(not(feature = "trace"))]
        let _ = (cpu, me, target, order);
    }

    /// Runs the invocation in `me`'s save area until it completes, fails, stalls or waits.
    /// `me` may already be write-locked (by the syscall entry): the path's first lock is then
    /// already in place. `Next::Same` only after a kernel-object order, a non-blocking send
    /// or a wait that took a queued POST at once, which `me` goes on from, as its state said
    /// under its lock at the end of the path, so a quiet exit need not lock it again.
    pub(crate) fn invoke(&self, cpu: &mut Cpu, me: ObjId) -> Next {
        loop {
            self.txns.enter(cpu.id);
            let done = self.invocation_path(cpu, me);
            cpu.held.release_all(self);
            if let Ok(next) = done {
                cpu.running_call = None;
                return next;
            }
            spin_loop();
        }
    }

    fn invocation_path(&self, cpu: &mut Cpu, me: ObjId) -> Result<Next, Restart> {
        // MARSHAL PHASE: the caller's own lock (the self-lock), then nothing but reading it.
        cpu.held.write(self, LockKey::process(me.index))?;
        cpu.held.marshal();
        let Some((inv, owns, staller)) = self
            .processes
            .write(me, |p| {
                self.still_caller(cpu, me, p).then(|| {
                    let inv = self.with_regs(cpu.id, me, p, |_, r| r.invocation());
                    (inv, p.owns, p.staller(me))
                })
            })
            .flatten()
        else {
            return Ok(Next::Exit);
        };
        let caller = Caller {
            id: me,
            owns,
            staller,
        };
        // The message is matched at once, not kept across the phase change: `Msg` is large,
        // and holding the `Result` would copy it on every invocation.
        let msg = match self.marshal(me, &inv) {
            Ok(m) => m,
            Err(e) => {
                self.operation_phase(cpu, owns)?;
                return self.refused(cpu, &caller, e);
            }
        };
        // OPERATION PHASE: the operation's locks, ascending or tried; each path re-prepares
        // what it marshalled under them (a capability whose object died meanwhile is dead).
        self.operation_phase(cpu, owns)?;
        let target = if self.is_live(&msg.target) {
            msg.target
        } else {
            Cap::NULL
        };
        self.trace_invoked(cpu.id, me, target, msg.order);
        match (target.ty, msg.kind) {
            (CapType::Null, InvocationKind::Return) => {
                self.reply_and_wait(cpu, &caller, None, &msg)
            }
            (CapType::Null, _) => self.refused(cpu, &caller, Error::NullCapability),
            (CapType::Resume, InvocationKind::Return | InvocationKind::Send) => {
                self.reply_and_wait(cpu, &caller, Some(target), &msg)
            }
            (
                CapType::Endpoint,
                InvocationKind::Call | InvocationKind::Send | InvocationKind::Post,
            ) if msg.nonblocking => {
                // A caller that goes on (WouldBlock, above all: a retry loop's common case)
                // leaves by the quiet exit, as after a kernel-object order.
                self.send(cpu, &caller, target, &msg)?;
                Ok(self.still_running(cpu, me))
            }
            (
                CapType::Endpoint,
                InvocationKind::Call | InvocationKind::Send | InvocationKind::Post,
            ) => self.send(cpu, &caller, target, &msg),
            (CapType::Resume | CapType::Endpoint, _) => {
                self.refused(cpu, &caller, Error::WrongType)
            }
            (_, InvocationKind::Return) => self.refused(cpu, &caller, Error::WrongType),
            _ => {
                let result = match self.object_order(cpu, target, &msg) {
                    Ok(r) => Ok(r),
                    Err(refusal) => Err(refusal.error()?),
                };
                if let Ok(object::KReply {
                    wait_leaving: Some(v),
                    ..
                }) = result
                {
                    // The order stopped `v`, still running on another CPU (its holder locked).
                    return self.stall(cpu, &caller, QueueRef::Leaving(v));
                }
                self.finish(cpu, &caller, |p, regs| {
                    let reply = match result {
                        Ok(r) => {
                            if let Some(c) = r.cap {
                                p.receive_cap(msg.recv[0], c);
                            }
                            Reply {
                                data: r.data,
                                ..Reply::default()
                            }
                        }
                        Err(e) => Reply {
                            error: e.raw(),
                            ..Reply::default()
                        },
                    };
                    regs.set_reply(&reply);
                });
                Ok(self.still_running(cpu, me))
            }
        }
    }

    /// Ends the marshal phase (its read locks go, the caller's self-lock stays) and takes the
    /// operation phase's first lock: the holder of the queue the caller owns, if any.
    #[inline(always)]
    fn operation_phase(&self, cpu: &mut Cpu, owns: Option<QueueRef>) -> Result<(), Restart> {
        cpu.held.operate(self);
        if let Some(q) = owns {
            self.lock_queue_holder(cpu, q)?;
        }
        Ok(())
    }

    /// Whether `p`, just locked as the caller of a path, still runs here. The path is entered
    /// again after its CPU dropped the lock (a stalled call re-run by `dispatch`, a restart on
    /// contention), and another CPU may have halted it in between: the call has not run yet,
    /// so it is marked to re-run on resume (as `save_registers` does for a system call that
    /// arrives after a halt) and the path stops here, leaving the halt in place.
    fn still_caller(&self, cpu: &mut Cpu, me: ObjId, p: &mut Process) -> bool {
        #[cfg(feature = "planted-bugs")]
        if self.planted_is(crate::planted::PlantedBug::LoseHalt) {
            return true;
        }
        let decided = *cpu
            .running_call
            .get_or_insert((me, p.halts, p.fault.is_some()));
        if decided.0 == me && decided.1 != p.halts {
            // Halted since this CPU decided to run the call, and perhaps resumed already
            // (still current here): the call has not run. A system call runs at the next
            // decision; a fault's CALL does not, as RESUME dropped the fault and the process
            // goes on at its faulting instruction.
            match p.state {
                RunState::Running if !decided.2 => p.restart = true,
                RunState::Running => {}
                _ => p.rerun_on_resume(),
            }
            return false;
        }
        if p.state == RunState::Running && p.cpu == Some(cpu.id) {
            return true;
        }
        p.rerun_on_resume();
        false
    }

    /// `me` (locked) goes on running here after its path, in its live address space. `Exit`
    /// if it no longer runs here (an order halted it).
    fn still_running(&self, cpu: &Cpu, me: ObjId) -> Next {
        self.processes
            .read(me, |p| self.goes_on_here(cpu, p))
            .unwrap_or(Next::Exit)
    }

    /// `still_running` on `p`, the path's caller, locked by it.
    fn goes_on_here(&self, cpu: &Cpu, p: &Process) -> Next {
        if p.state != RunState::Running || p.restart || p.cpu != Some(cpu.id) {
            return Next::Exit;
        }
        Next::Same {
            space: self.live_space(p),
        }
    }

    /// Refuses the call with `e`: the caller goes on running with the error in `rax` (a
    /// refused fault CALL halts it instead: `keeper.rs`).
    fn refuse(&self, cpu: &mut Cpu, caller: &Caller, e: Error) {
        // COMMIT POINT (refusal): only the caller's reply registers (or state) change.
        self.finish(cpu, caller, |p, regs| Self::refusal(p, regs, e));
    }

    /// `refuse` as the end of a path.
    pub(crate) fn refused(
        &self,
        cpu: &mut Cpu,
        caller: &Caller,
        e: Error,
    ) -> Result<Next, Restart> {
        self.refuse(cpu, caller, e);
        Ok(Next::Exit)
    }

    /// The last step of a path after which the caller goes on running: `f` writes its reply,
    /// and a queue it owned but did not use passes to the next in line (seed 002).
    pub(crate) fn finish(
        &self,
        cpu: &mut Cpu,
        caller: &Caller,
        f: impl FnOnce(&mut Process, &mut P::SaveArea),
    ) {
        let owned = self.processes.write(caller.id, |p| {
            self.with_regs(cpu.id, caller.id, p, f);
            p.invocations += 1;
            p.completing = None;
            p.owns.take()
        });
        if let Some(Some(q)) = owned {
            self.relinquish(cpu, q, caller.staller);
        }
    }

    /// Locks what a queue lives in: its process (the post pool's queue needs no lock).
    pub(crate) fn lock_queue_holder(&self, cpu: &mut Cpu, q: QueueRef) -> Result<(), Restart> {
        match q {
            QueueRef::Senders(t) | QueueRef::Leaving(t) => {
                cpu.held.write(self, LockKey::process(t.index))
            }
            // The pool has no lock: its waiter is the caller itself (`post.rs`).
            QueueRef::PostPool => Ok(()),
        }
    }

    /// `who` gives up queue `q`, or leaves it if it still waits there: ownership passes to the
    /// next in line if the resource is ready (seed 002). The holder of `q` is locked
    /// (`lock_queue_holder`); a dead holder's queue is gone already.
    pub(crate) fn relinquish(&self, cpu: &mut Cpu, q: QueueRef, who: Staller) {
        match q {
            QueueRef::Senders(t) => {
                self.processes.write(t, |tp| {
                    if !tp.senders.give_back(Waiter::Process(who)) {
                        tp.senders.remove(&self.stall_nodes, Waiter::Process(who));
                    }
                    self.offer(cpu, t, tp);
                });
            }
            QueueRef::PostPool => {
                self.posts.leave(who);
            }
            QueueRef::Leaving(t) => {
                self.processes
                    .write(t, |tp| tp.leaving.remove(&self.stall_nodes, who));
            }
        }
    }

    /// The caller stops running (it waits or stalls): set its state; a queue it owned and did
    /// not use passes on. Unless it may yet take a queued message (`Available`: see
    /// `reply_and_wait`), it is no longer current here.
    pub(crate) fn leave(&self, cpu: &mut Cpu, caller: &Caller, state: RunState) {
        let owned = self.processes.write(caller.id, |p| {
            if matches!(state, RunState::Waiting | RunState::Available) {
                p.invocations += 1;
            }
            p.state = state;
            if !matches!(state, RunState::Stalled(QueueRef::Leaving(_))) {
                p.completing = None;
            }
            if state != RunState::Available {
                self.off_cpu(cpu, caller.id, p);
            }
            p.owns.take()
        });
        if let Some(Some(q)) = owned {
            self.relinquish(cpu, q, caller.staller);
        }
    }

    /// The caller (locked) has stopped running: it stops being current here at once, so the
    /// exit path need not lock it again to learn that. Its registers are in its save area.
    pub(crate) fn off_cpu(&self, cpu: &mut Cpu, id: ObjId, p: &mut Process) {
        if p.state == RunState::Running || p.cpu != Some(cpu.id) {
            return;
        }
        self.left_cpu(cpu, id, p);
        if cpu.current == Some(id) {
            cpu.current = None;
            self.shared(cpu.id)
                .running_priority
                .store(IDLE, Ordering::Release);
        }
    }
}
