//! Fault keepers (DESIGN.md, "Kernel services beside invocations"): a user-mode exception the
//! arch does not resolve becomes a CALL to the faulting process's keeper, made by the kernel on
//! its behalf through the ordinary invocation path. The protocol is `tessera_abi::fault`.
//!
//! # How
//! - `fault`: under the process's lock its user registers at the fault go into its save area
//!   and the fault is recorded in `Process::fault`; then the invocation path runs as for a
//!   system call. The marshal phase reads a faulted process's invocation from that record
//!   (`fault_message`), never from its registers: a stalled fault re-runs (KernStall) with the
//!   same message, and FIFO order and queue ownership are those of any CALL.
//! - The reply does not write the faulted process's registers (`write_message` clears the
//!   record instead): it resumes with its registers as its keeper left them.
//! - A refused fault CALL (the keeper's process destroyed, the keeper is the process itself, no
//!   memory to queue it) halts the process instead of writing an error into its registers
//!   (`refusal`).
//!
//! # Guarantees
//! - The registers at the fault are kept, keeper or not; RESUME of a process halted at a fault
//!   re-runs the faulting instruction.
//! - A process never returns to user mode while its fault message is outstanding: it is in the
//!   kernel's CALL (running it, stalled, waiting), and HALT or SET_ENTRY end that.

use tessera_abi::fault::{Fault, FAULT};
use tessera_abi::message::{Reply, DATA_WORDS, MESSAGE_CAPS};
use tessera_abi::{Error, InvocationKind};

use crate::cap::{Cap, ObjId};
use crate::cpu::Cpu;
use crate::invoke::Msg;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{Process, Resumes, RunState};
use crate::platform::{Platform, SaveArea};
use crate::sync::atomic::spin_loop;
use crate::sync::Restart;

/// Where a fault left its process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Faulted {
    /// It did not end halted here: its keeper has the message or will get it, and the process
    /// waits for the reply; or, if another CPU halted and resumed it while this one handed the
    /// fault on, the fault was cancelled and it runs again from its faulting instruction.
    ToKeeper,
    /// It is halted, its registers at the fault kept: it has no keeper, its keeper could not
    /// take the message, or another CPU halted it first. The arch reports it.
    Halted,
}

/// What `take_fault` decided.
enum Taken {
    /// The fault's CALL is to be made.
    Call,
    /// The process is halted (or gone).
    Stopped,
}

impl<P: Platform> Kernel<P> {
    /// The current process of `cpu` took exception `f` in user mode, its user registers at the
    /// fault in its save area: keep them and hand the fault to its keeper, or halt it. The arch
    /// then calls `exit`.
    pub fn fault(&self, cpu: &mut Cpu, f: Fault) -> Faulted {
        let Some(me) = cpu.current else {
            return Faulted::Halted;
        };
        loop {
            self.txns.enter(cpu.id);
            match self.take_fault(cpu, me, f) {
                // The process stays locked: the invocation path takes that lock first, so no
                // HALT can come between the record and the CALL's first run.
                Ok(Taken::Call) => break,
                Ok(Taken::Stopped) => {
                    cpu.held.release_all(self);
                    return Faulted::Halted;
                }
                Err(Restart) => cpu.held.release_all(self),
            }
            spin_loop();
        }
        self.invoke(cpu, me);
        if self.is_halted(cpu, me) {
            Faulted::Halted
        } else {
            Faulted::ToKeeper
        }
    }

    fn take_fault(&self, cpu: &mut Cpu, me: ObjId, f: Fault) -> Result<Taken, Restart> {
        cpu.held.write(self, LockKey::process(me.index))?;
        let Some((state, keeper)) = self.processes.read(me, |p| (p.state, p.keeper)) else {
            return Ok(Taken::Stopped);
        };
        if state != RunState::Running {
            // COMMIT POINT: halted by another CPU before this one saw the fault; RESUME will
            // re-run the faulting instruction from the registers in its save area.
            return Ok(Taken::Stopped);
        }
        #[cfg(feature = "planted-bugs")]
        if self.planted_is(crate::planted::PlantedBug::DropFaultOfDeadKeeper)
            && !keeper.is_null()
            && !self.is_live(&keeper)
        {
            return Ok(Taken::Stopped);
        }
        if keeper.is_null() {
            if let Err(r) = self.prepare_detach(cpu, me, false) {
                r.error()?;
                return Ok(Taken::Stopped);
            }
            // COMMIT POINT: the process and every queue it owns are locked.
            self.stop(cpu, me, Resumes::Run { restart: false });
            // Its registers are saved: it leaves this CPU now, so whoever sees it halted may
            // read them at once.
            self.processes.write(me, |p| self.off_cpu(cpu, me, p));
            return Ok(Taken::Stopped);
        }
        // COMMIT POINT: the process runs and is locked; the invocation path makes the CALL.
        self.processes.write(me, |p| p.fault = Some(f));
        Ok(Taken::Call)
    }

    /// Whether `me` is halted now (a refused fault CALL halts its process).
    fn is_halted(&self, cpu: &mut Cpu, me: ObjId) -> bool {
        loop {
            let r = cpu.held.read(self, LockKey::process(me.index)).map(|()| {
                // COMMIT POINT: a read.
                self.processes
                    .read(me, |p| matches!(p.state, RunState::Halted(_)))
                    .unwrap_or(true)
            });
            cpu.held.release_all(self);
            if let Ok(h) = r {
                return h;
            }
            spin_loop();
        }
    }

    /// The CALL a faulted process makes (its fault message outstanding), for the marshal phase.
    pub(crate) fn fault_message(p: &Process) -> Option<Msg> {
        let f = p.fault?;
        Some(Msg {
            kind: InvocationKind::Call,
            order: FAULT,
            data: f.pack(),
            ndata: DATA_WORDS as u8,
            caps: [Cap::NULL; MESSAGE_CAPS],
            ncaps: 0,
            recv: [0; MESSAGE_CAPS],
            target: p.keeper,
            ceiling: p.ceiling,
            caller: None,
            nonblocking: false,
        })
    }

    /// What a refused invocation leaves in its caller `p` (locked, running, current here, in
    /// no queue): the error in its reply registers; or, for its fault's CALL, a halt with its
    /// registers at the fault kept, which the exit path's verdict takes off this CPU.
    pub(crate) fn refusal(p: &mut Process, regs: &mut P::SaveArea, e: Error) {
        if p.fault.take().is_some() {
            p.state = RunState::Halted(Resumes::Run { restart: false });
        } else {
            regs.set_reply(&Reply {
                error: e.raw(),
                ..Reply::default()
            });
        }
    }
}
