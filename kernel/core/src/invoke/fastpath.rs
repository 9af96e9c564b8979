//! The fast path of CALL through an endpoint and RETURN through a resume capability (the
//! seL4 fastpath idea), tried at the syscall entry before the general invocation path: when
//! the receiver can take the message at once and would be the next to run on this CPU anyway,
//! the message is written into it and it becomes current here directly, its registers copied
//! into the trap frame under the lock the path holds: no marshal phase, no run queue, and no
//! re-locking at exit.
//!
//! # Preconditions (any failing one changes nothing, and the general path runs, keeping the
//! locks taken so far: it takes the same ones first anyway)
//! - The caller is current here and runs; it is write-locked and its registers are saved.
//! - CALL through an Endpoint to another process, or RETURN through a Resume capability,
//!   sending no capabilities, with a valid message word and valid receive slots.
//! - The caller owns no queue, and for RETURN nobody waits on its own queue (no hand-over).
//! - The receiver is live, locked without waiting where that could deadlock, and takes this
//!   message now: for CALL it is available and this sender would not barge
//!   (`may_receive_from`); for RETURN it waits for call number `badge`.
//! - The receiver is homed here, on no CPU and no run queue, and this CPU's run queue holds
//!   nobody of its priority or higher: the general path would queue it at the tail of its
//!   level and pick it next, which is what this path does at once.
//!
//! # Guarantees
//! - The outcome is the general path's (registers, states, tickets, counters, quantum): only
//!   the trip through the run queue and the re-locking at exit are skipped.
//! - The checks and the commit run under one hold of the receiver's data: nothing is written
//!   before the commit point, and nothing after it can fail.

use tessera_abi::cap::CAP_SPACE_SLOTS;
use tessera_abi::message::{CapWord, MessageInfo, DATA_WORDS, MESSAGE_CAPS};
use tessera_abi::{CapType, InvocationKind};

use super::deliver::Delivery;
use crate::cap::{Cap, ObjId};
use crate::cpu::Cpu;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{Process, RunState, Staller, Waiter};
use crate::platform::{Platform, SaveArea};

/// A CALL or RETURN that passed the caller-side preconditions, read under the caller's lock
/// (kept small: it is returned through the entry path on every system call).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    /// An Endpoint (CALL) or a Resume capability (RETURN).
    target: Cap,
    info: MessageInfo,
    ticket: u64,
    stall_seq: u64,
}

/// The caller-side preconditions (file header), on the locked caller `p` whose registers were
/// just saved: `None` sends the invocation down the general path.
#[inline]
pub(crate) fn candidate<S: SaveArea>(me: ObjId, p: &Process<S>) -> Option<Candidate> {
    let inv = p.save.invocation();
    let target = p.cap(inv.cap)?;
    let call = match (InvocationKind::from_raw(inv.info & 0x3)?, target.ty) {
        (InvocationKind::Call, CapType::Endpoint) => true,
        (InvocationKind::Return, CapType::Resume) => false,
        _ => return None,
    };
    let info = MessageInfo::unpack(inv.info)?;
    let recv = CapWord::unpack(inv.caps).recv;
    if info.caps != 0
        || info.resume
        || recv.iter().any(|&r| usize::from(r) >= CAP_SPACE_SLOTS)
        || p.owns.is_some()
        || (!call && p.awaited())
        || target.obj == me
    {
        return None;
    }
    Some(Candidate {
        target,
        info,
        ticket: p.ticket,
        stall_seq: p.stall_seq,
    })
}

impl<P: Platform> Kernel<P> {
    /// Runs candidate `c` of `me` by the fast path if the receiver-side preconditions hold:
    /// `Some(space)` then, the receiver current here with its registers in `regs`, running in
    /// `space`. `None`: nothing changed (locks taken stay held for the general path).
    pub(crate) fn fastpath(
        &self,
        cpu: &mut Cpu,
        me: ObjId,
        c: &Candidate,
        regs: &mut P::SaveArea,
    ) -> Option<Option<ObjId>> {
        let t = c.target.obj;
        let call = c.target.ty == CapType::Endpoint;
        let sender = Waiter::Process(Staller {
            id: me,
            seq: c.stall_seq,
        });
        cpu.held.write(self, LockKey::process(t.index)).ok()?;
        self.txns.enter(cpu.id);
        let bar = self.shared(cpu.id).run.lock().highest();
        let info = c.info;
        // The frame is what was just saved; words past the count arrive as zeros.
        let sent = regs.invocation().data;
        let n = usize::from(info.data_words);
        let data: [u64; DATA_WORDS] = core::array::from_fn(|i| if i < n { sent[i] } else { 0 });
        let d = Delivery {
            badge: if call { c.target.badge } else { 0 },
            info: MessageInfo::new(info.kind, info.order, info.data_words, 0),
            data,
            caps: [Cap::NULL; MESSAGE_CAPS],
            resume: call.then(|| Cap::resume(me, c.ticket)),
        };
        let space = self.processes.write(t, |r| {
            let takes = if call {
                r.may_receive_from(sender)
            } else {
                r.state == RunState::Waiting && r.ticket == c.target.badge
            };
            let next_here = r.home == cpu.id
                && r.cpu.is_none()
                && r.queued_on.is_none()
                && bar.is_none_or(|b| b < r.priority);
            if !(takes && next_here) {
                return None;
            }
            // COMMIT POINT: caller and receiver are locked and every precondition holds.
            if call {
                r.senders.used(&self.stall_nodes, sender, false);
            } else {
                r.ticket += 1;
            }
            Self::write_message(r, &d);
            trace_event!(self, cpu.id, Delivered, t.index, d.info.pack(), u64::from(if call { me.index } else { crate::trace::NO_PROCESS }));
            Some(self.run_here(cpu, r, regs))
        })??;
        self.processes.write(me, |p| {
            p.invocations += 1;
            p.state = if call {
                RunState::Waiting
            } else {
                RunState::Available
            };
            self.left_cpu(cpu, me, p);
        });
        cpu.current = Some(t);
        cpu.held.release_all(self);
        Some(space)
    }

    /// `r` becomes the process running here, as `dispatch` would make it: a fresh quantum,
    /// and its registers in `regs`. Returns its live address space.
    #[inline]
    fn run_here(
        &self,
        cpu: &Cpu,
        r: &mut Process<P::SaveArea>,
        regs: &mut P::SaveArea,
    ) -> Option<ObjId> {
        r.state = RunState::Running;
        self.become_current(cpu.id, r);
        regs.clone_from(&r.save);
        let space = r.space.obj;
        (!r.space.is_null() && self.spaces.is_live(space)).then_some(space)
    }
}
