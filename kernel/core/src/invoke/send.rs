//! CALL, SEND and POST through an endpoint (a start capability to a process).
//!
//! - The message is delivered at once if the target is available and the sender would not
//!   barge past earlier senders (or owns the target's queue, having been woken from its head).
//! - Otherwise CALL and SEND stall the sender on the target's queue (KernStall: the call is
//!   re-run from the save area when it is woken), and POST queues a post activity and lets the
//!   sender go on; with no free activity, the sender stalls on the pool's queue (seed 003).
//! - CALL leaves the sender in a closed wait with a fresh one-shot resume capability.
//! - With the NONBLOCKING flag, where the sender would stall it gets `WouldBlock` and a
//!   notification request instead (`notify.rs`).

use tessera_abi::message::MessageInfo;
use tessera_abi::post::PostPayload;
use tessera_abi::{Error, InvocationKind};

use super::deliver::Delivery;
use super::{Caller, Msg};
use crate::cap::Cap;
use crate::cpu::Cpu;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::notify::Watched;
use crate::object::process::{QueueRef, RunState, Staller, Waiter};
use crate::outcome::Next;
use crate::platform::{Platform, SaveArea};
use crate::post::{Activity, Sender, WaitOutcome};
use crate::stall_queue::StallError;
use crate::sync::Restart;
use tessera_abi::message::Reply;

impl<P: Platform> Kernel<P> {
    pub(crate) fn send(
        &self,
        cpu: &mut Cpu,
        caller: &Caller,
        target: Cap,
        msg: &Msg,
    ) -> Result<Next, Restart> {
        let t_id = target.obj;
        if t_id == caller.id && msg.kind != InvocationKind::Post {
            return self.refused(cpu, caller, Error::BadState);
        }
        cpu.held.write(self, LockKey::process(t_id.index))?;
        let me = Waiter::Process(caller.staller);
        let Some(deliverable) = self.processes.read(t_id, |t| t.may_receive_from(me)) else {
            return self.refused(cpu, caller, Error::NullCapability);
        };
        if !deliverable {
            return match msg.kind {
                InvocationKind::Post => self.queue_post(cpu, caller, target, msg),
                _ if msg.nonblocking => self.would_block(cpu, caller, Watched::Process(t_id)),
                _ => self.stall(cpu, caller, QueueRef::Senders(t_id)),
            };
        }
        let Some(ticket) = self.processes.read(caller.id, |p| p.ticket) else {
            return Ok(Next::Exit);
        };
        let d = Delivery {
            badge: target.badge,
            info: MessageInfo::new(msg.kind, msg.order, msg.ndata, msg.ncaps),
            data: msg.data,
            caps: msg.caps,
            resume: (msg.kind == InvocationKind::Call).then(|| Cap::resume(caller.id, ticket)),
        };
        // COMMIT POINT: the target is locked and available to this sender.
        self.processes.write(t_id, |t| {
            t.senders.used(&self.stall_nodes, me, false);
            self.deliver(cpu, t_id, t, &d);
        });
        if caller.owns == Some(QueueRef::Senders(t_id)) {
            self.processes.write(caller.id, |p| p.owns = None);
        }
        match msg.kind {
            InvocationKind::Call => self.leave(cpu, caller, RunState::Waiting),
            _ => self.finish(cpu, caller, |_, regs| regs.set_reply(&Reply::default())),
        }
        Ok(Next::Exit)
    }

    /// Puts the caller on queue `q` (whose holder is locked); it re-runs its call when woken.
    pub(crate) fn stall(
        &self,
        cpu: &mut Cpu,
        caller: &Caller,
        q: QueueRef,
    ) -> Result<Next, Restart> {
        let again = caller.owns == Some(q);
        let s = if again {
            caller.staller
        } else {
            Staller {
                id: caller.id,
                seq: self.stamp(),
            }
        };
        // COMMIT POINT: `stall` either queues the caller or changes nothing.
        let queued = match q {
            QueueRef::Senders(t) => self.processes.write(t, |tp| {
                tp.senders.stall(&self.stall_nodes, Waiter::Process(s))
            }),
            QueueRef::PostPool => match self.posts.wait(s) {
                WaitOutcome::Waiting => Some(Ok(())),
                // An activity was freed since the caller looked: it takes it instead.
                WaitOutcome::FreeNow => return Err(Restart),
                WaitOutcome::Refused => Some(Err(StallError::AlreadyQueued)),
            },
            QueueRef::Leaving(t) => self
                .processes
                .write(t, |tp| tp.leaving.wait(&self.stall_nodes, s)),
        };
        match queued {
            Some(Ok(())) => {}
            None => return self.refused(cpu, caller, Error::NullCapability),
            Some(Err(e)) => panic!("{:?} cannot stall on {q:?}: {e:?} (kernel bug)", caller.id),
        }
        trace_event!(
            self,
            cpu.id,
            Stall,
            caller.id.index,
            u64::from(match q {
                QueueRef::Senders(t) => t.index,
                QueueRef::PostPool => crate::trace::NO_PROCESS,
                QueueRef::Leaving(t) => t.index,
            }),
            0
        );
        if again {
            self.processes.write(caller.id, |p| p.owns = None);
        }
        self.processes.write(caller.id, |p| p.stall_seq = s.seq);
        self.leave(cpu, caller, RunState::Stalled(q));
        Ok(Next::Stalled)
    }

    /// POST to a target that is not available: queue one of the caller's post activities on
    /// it and let the caller go on, or stall the caller until one of its own is free.
    fn queue_post(
        &self,
        cpu: &mut Cpu,
        caller: &Caller,
        target: Cap,
        msg: &Msg,
    ) -> Result<Next, Restart> {
        let t_id = target.obj;
        let Some(priority) = self.processes.read(caller.id, |p| p.priority) else {
            return Ok(Next::Exit);
        };
        let Some(id) = self.posts.next_free(Sender::Process(caller.id)) else {
            if msg.nonblocking {
                return self.would_block(cpu, caller, Watched::Allotment);
            }
            return self.stall(cpu, caller, QueueRef::PostPool);
        };
        let a = Activity {
            target: t_id,
            badge: target.badge,
            payload: PostPayload {
                order: msg.order,
                word: msg.data[0],
            },
            priority,
            stamp: self.stamp(),
        };
        // COMMIT POINT: the activity is the caller's alone to take (it takes from its
        // allotment under its own lock), and the recipient is locked.
        assert!(
            self.posts.take(id, a),
            "{id:?} was taken by another (kernel bug)"
        );
        self.queue_activity(t_id, id);
        trace_event!(
            self,
            cpu.id,
            PostQueued,
            t_id.index,
            u64::from(msg.order),
            u64::from(caller.id.index)
        );
        self.finish(cpu, caller, |_, regs| regs.set_reply(&Reply::default()));
        Ok(Next::Exit)
    }
}
