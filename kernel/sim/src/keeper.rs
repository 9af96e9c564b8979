//! The keeper program: the fault keeper of one program (it holds a process capability to it in
//! `slot::KEPT`, and the kept program's fault endpoint leads to it). It waits; given a fault
//! message it reads some of the faulted program's registers (READ_REGS, checked against those
//! at the fault), may write one (WRITE_REGS: RIP past the instruction, or another register),
//! and then replies through the resume capability, which lets the program go on, or halts it.
//!
//! Each step issues one invocation; its result is judged at the keeper's next step, against
//! the fault log and the faulted program's record (`exceptions.rs`). A message or a result that
//! belongs to a fault already over (the program was halted, resumed and went on meanwhile) is
//! only checked for what still holds.

use tessera_abi::fault::{Fault, Reg};
use tessera_abi::message::{Invocation, MessageInfo, Reply};
use tessera_abi::{order, Error, InvocationKind};
use tessera_core::SaveArea;

use crate::exceptions::INSTRUCTION;
use crate::program::{inv, recv, slot, Pending, KEEPER_BADGE};
use crate::world::Sim;

/// Steps of handling one fault message.
const READ: u8 = 0;
const WRITE: u8 = 1;
const FINISH: u8 = 2;

impl Sim {
    /// Keeper `k` judges the result `r` of its last invocation.
    pub(crate) fn keeper_consume(&mut self, k: usize, r: &Reply) -> Result<(), String> {
        let Some(kept) = self.progs[k].keeps else {
            return Err(format!("keeper {k} keeps nobody"));
        };
        let current = self.progs[kept].fault.map(|o| o.id);
        match self.progs[k].pending.take() {
            None | Some(Pending::Any) => Ok(()),
            Some(Pending::KeeperHalt) => {
                self.progs[kept].halted_by_keeper |= r.error == 0;
                Ok(())
            }
            Some(Pending::KeeperWait) => self.fault_received(k, kept, r),
            Some(Pending::ReadRegs { first, fault }) => {
                if r.error != 0 {
                    return self.refused(k, "READ_REGS", r.error);
                }
                let Some(o) = self.progs[kept].fault.filter(|_| current == Some(fault)) else {
                    return Ok(());
                };
                // The words read, over the registers expected: they must be as expected, or as
                // a write in flight left them; words past the last register read as 0.
                let mut read = o.expect;
                let mut past = 0;
                for (i, w) in r.data.iter().enumerate() {
                    match Reg::from_raw(first + i as u64) {
                        Some(reg) => read.set_reg(reg, *w),
                        None => past |= *w,
                    }
                }
                if past != 0 || !o.kept(&read, &self.keeper_writes(kept)) {
                    return Err(format!(
                        "keeper {k}: READ_REGS from {first} of program {kept} after fault \
                         {fault} gave {:?}, not the registers at the fault {:?}",
                        r.data, o.expect
                    ));
                }
                Ok(())
            }
            Some(Pending::WriteRegs { reg, value, fault }) => {
                if r.error != 0 {
                    return self.refused(k, "WRITE_REGS", r.error);
                }
                let Some(reg) = Reg::from_raw(reg) else {
                    return Ok(());
                };
                // Made for the present fault: its registers have it now. Made for an earlier
                // one: it landed then (and the fault's own registers replaced it) or, re-run by
                // a keeper halted and resumed, during this one.
                match self.progs[kept].fault.as_mut() {
                    Some(o) if o.id == fault => o.expect.set_reg(reg, value),
                    Some(_) => self.progs[kept].stale_writes.push((reg, value)),
                    None => {}
                }
                Ok(())
            }
            Some(p) => Err(format!(
                "keeper {k} had a client's invocation {p:?} pending"
            )),
        }
    }

    /// A register order of a keeper was refused: only because the kept program is not at rest
    /// (resumed by the injector meanwhile) or is gone.
    fn refused(&self, k: usize, what: &str, error: u64) -> Result<(), String> {
        match Error::from_raw(error) {
            Some(Error::BadState | Error::NullCapability) => Ok(()),
            e => Err(format!(
                "keeper {k}: {what} on the program it keeps gave {e:?}"
            )),
        }
    }

    /// Keeper `k` waited and got `r`: a fault message of `kept`, for a fault it took and whose
    /// message no keeper received before.
    fn fault_received(&mut self, k: usize, kept: usize, r: &Reply) -> Result<(), String> {
        if r.error != 0 {
            return Err(format!(
                "keeper {k}: RETURN failed with {:?}",
                Error::from_raw(r.error)
            ));
        }
        let info = MessageInfo::unpack(r.info).ok_or("keeper: a malformed info word")?;
        let fault = Fault::unpack(info.order, r.data).filter(|_| {
            info.kind == InvocationKind::Call && info.resume && r.badge == KEEPER_BADGE
        });
        let Some(fault) = fault else {
            return Err(format!(
                "keeper {k} received {info:?} {:?} through badge {:#x}: not a fault message",
                r.data, r.badge
            ));
        };
        let Some(l) = self.faults.get_mut(&fault.rip) else {
            return Err(format!(
                "keeper {k} received {fault:?}, a fault nobody took"
            ));
        };
        l.delivered += 1;
        if l.program != kept || l.delivered > 1 {
            return Err(format!(
                "keeper {k} of program {kept} received {fault:?} of program {} (delivery {})",
                l.program, l.delivered
            ));
        }
        self.stats.kept += 1;
        let Some(o) = self.progs[kept].fault.filter(|o| o.fault.rip == fault.rip) else {
            // The fault is over already (its program was halted, resumed and went on): the
            // resume capability is dead, and the reply below does nothing.
            self.progs[k].handling = Some((0, FINISH));
            return Ok(());
        };
        if o.fault != fault {
            return Err(format!(
                "keeper {k} received {fault:?} for program {kept}'s fault {:?}",
                o.fault
            ));
        }
        self.progs[k].handling = Some((o.id, READ));
        Ok(())
    }

    /// Keeper `k`'s next invocation.
    pub(crate) fn keeper_step(&mut self, k: usize) -> Invocation {
        let wait = recv([slot::SCRATCH, 0, 0, slot::RESUME]);
        let kept = self.progs[k].keeps.unwrap_or(usize::MAX);
        let draining = self.progs[k].draining;
        let call = |order: u32, data: [u64; 4], n: u8| {
            inv(
                slot::KEPT,
                MessageInfo::new(InvocationKind::Call, order, n, 0),
                data,
                recv([0; 4]),
            )
        };
        let Some((fault, step)) = self.progs[k].handling else {
            self.progs[k].pending = Some(Pending::KeeperWait);
            return inv(
                0,
                MessageInfo::new(InvocationKind::Return, 0, 0, 0),
                [0; 4],
                wait,
            );
        };
        let outstanding = self
            .progs
            .get(kept)
            .and_then(|p| p.fault)
            .filter(|o| o.id == fault);
        match (step, outstanding) {
            (READ, Some(_)) if !draining => {
                let first = self.rng.below(Reg::COUNT);
                self.progs[k].handling = Some((fault, WRITE));
                self.progs[k].pending = Some(Pending::ReadRegs { first, fault });
                return call(order::process::READ_REGS, [first, 0, 0, 0], 1);
            }
            (WRITE, Some(o)) if !draining && self.rng.chance(2, 3) => {
                let (reg, value) = if self.rng.chance(1, 2) {
                    (Reg::Rip, o.fault.rip + INSTRUCTION)
                } else {
                    (Reg::R12, self.rng.next_u64())
                };
                self.progs[k].handling = Some((fault, FINISH));
                self.progs[k].pending = Some(Pending::WriteRegs {
                    reg: reg as u64,
                    value,
                    fault,
                });
                return call(order::process::WRITE_REGS, [reg as u64, value, 0, 0], 2);
            }
            (_, Some(_)) if !draining && self.rng.chance(1, 5) => {
                self.progs[k].handling = None;
                self.progs[k].pending = Some(Pending::KeeperHalt);
                return call(order::process::HALT, [0; 4], 0);
            }
            _ => {}
        }
        // The reply lets the program go on (the injector may halt it first: then the resume
        // capability is dead and the reply does nothing).
        if let Some(o) = self.progs.get_mut(kept).and_then(|p| p.fault.as_mut()) {
            if o.id == fault {
                o.released = true;
            }
        }
        self.progs[k].handling = None;
        self.progs[k].pending = Some(Pending::KeeperWait);
        inv(
            slot::RESUME,
            MessageInfo::new(InvocationKind::Return, 0, 0, 0),
            [0; 4],
            wait,
        )
    }
}
