//! RETURN (reply through a resume capability, then wait in the open) and SEND through a resume
//! capability (reply and go on).
//!
//! # Guarantees
//! - A resume capability is one-shot: the reply is delivered only if the caller still waits for
//!   call number `badge`; delivering advances the caller's ticket, so every copy dies.
//! - RETURN through a dead resume capability or Null drops the reply and still waits (EROS);
//!   SEND through a dead one fails with `NullCapability`.
//! - A process that becomes available hands its sender queue to the head (seed 002): a waiting
//!   sender is woken as owner, a queued POST is delivered at once.

use tessera_abi::message::{MessageInfo, Reply};
use tessera_abi::{Error, InvocationKind};

use super::deliver::Delivery;
use super::{Caller, Msg};
use crate::cap::{Cap, ObjId};
use crate::cpu::Cpu;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{Process, RunState};
use crate::outcome::Next;
use crate::platform::{Platform, SaveArea};
use crate::sync::Restart;

impl<P: Platform> Kernel<P> {
    pub(crate) fn reply_and_wait(
        &self,
        cpu: &mut Cpu,
        caller: &Caller,
        resume: Option<Cap>,
        msg: &Msg,
    ) -> Result<Next, Restart> {
        if let Some(r) = resume {
            cpu.held.write(self, LockKey::process(r.obj.index))?;
        }
        let waiting = resume.filter(|r| {
            self.processes.read(r.obj, |w| {
                w.state == RunState::Waiting && w.ticket == r.badge
            }) == Some(true)
        });
        if msg.kind == InvocationKind::Send && waiting.is_none() {
            return self.refused(cpu, caller, Error::NullCapability);
        }
        // COMMIT POINT: the reply target (if any) is locked and waiting for this reply.
        if let Some(r) = waiting {
            let d = Delivery {
                badge: 0,
                info: MessageInfo::new(msg.kind, msg.order, msg.ndata, msg.ncaps),
                data: msg.data,
                caps: msg.caps,
                resume: None,
            };
            self.processes.write(r.obj, |w| {
                w.ticket += 1;
                self.deliver(cpu, r.obj, w, &d);
            });
        }
        if msg.kind == InvocationKind::Send {
            self.finish(cpu, caller, |_, regs| regs.set_reply(&Reply::default()));
            return Ok(Next::Exit);
        }
        self.leave(cpu, caller, RunState::Available);
        Ok(self
            .processes
            .write(caller.id, |me| self.wait_open(cpu, caller.id, me))
            .unwrap_or(Next::Exit))
    }

    /// `me` (`p`, locked, just made available here) waits in the open: the head of its sender
    /// queue, if anyone waits there, is offered it at once. A queued POST delivered at once
    /// (`post_owns`: a driver's RETURN that takes its IRQ POST) leaves it running here, which
    /// the quiet exit returns to as after a kernel-object order (`Next::Same`); anything else
    /// is the exit's to decide. The general path's and the fast path's end of an open wait.
    pub(crate) fn wait_open(&self, cpu: &mut Cpu, me: ObjId, p: &mut Process) -> Next {
        if !p.awaited() {
            self.off_cpu(cpu, me, p);
            return Next::Exit;
        }
        self.offer(cpu, me, p);
        self.off_cpu(cpu, me, p);
        self.goes_on_here(cpu, p)
    }
}
