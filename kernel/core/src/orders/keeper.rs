//! The process orders of fault keeping (`tessera_abi::fault`): naming the fault endpoint, and
//! reading and writing the registers of a process that is not running.
//!
//! # Guarantees
//! - Registers are read or written only while no CPU uses them (`Process::registers_at_rest`):
//!   halted and off every CPU, or in its keeper's hands; otherwise `BadState`.
//! - Every register number and count is checked before the commit point: a write changes all
//!   the registers it names or none.

use tessera_abi::fault::Reg;
use tessera_abi::message::DATA_WORDS;
use tessera_abi::{order, CapType, Error};

use crate::cap::{Cap, ObjId};
use crate::cpu::Cpu;
use crate::invoke::object::{KReply, OrderResult};
use crate::invoke::Msg;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::platform::{Platform, SaveArea};

impl<P: Platform> Kernel<P> {
    /// SET_FAULT_ENDPOINT: `c0` becomes `v`'s keeper (Null, or a dead endpoint, clears it).
    pub(crate) fn set_keeper(&self, cpu: &mut Cpu, v: ObjId, msg: &Msg) -> OrderResult {
        let arg = msg.caps[0];
        let keeper = match arg.ty {
            CapType::Endpoint if self.is_live(&arg) => arg,
            CapType::Endpoint | CapType::Null => Cap::NULL,
            _ => return Err(Error::WrongType.into()),
        };
        cpu.held.write(self, LockKey::process(v.index))?;
        // COMMIT POINT: the process is locked and the argument checked.
        let done = self.processes.write(v, |p| p.keeper = keeper);
        done.map(|()| KReply::default())
            .ok_or(Error::NullCapability.into())
    }

    /// READ_REGS and WRITE_REGS on `v`.
    pub(crate) fn registers_order(&self, cpu: &mut Cpu, v: ObjId, msg: &Msg) -> OrderResult {
        let Some(first) = Reg::from_raw(msg.data[0]) else {
            return Err(Error::InvalidArgument.into());
        };
        let first = first as usize;
        let write = msg.order == order::process::WRITE_REGS;
        let values = &msg.data[1..usize::from(msg.ndata).clamp(1, DATA_WORDS)];
        if write && (values.is_empty() || first + values.len() > Reg::COUNT as usize) {
            return Err(Error::InvalidArgument.into());
        }
        if write {
            cpu.held.write(self, LockKey::process(v.index))?;
        } else {
            cpu.held.read(self, LockKey::process(v.index))?;
        }
        match self.processes.read(v, |p| p.registers_at_rest()) {
            None => return Err(Error::NullCapability.into()),
            Some(false) => return Err(Error::BadState.into()),
            Some(true) => {}
        }
        // COMMIT POINT: the process is locked and at rest; every register number is checked.
        // At rest, its registers are on no CPU: they belong to this lock's holder.
        let reply = self.saves.with(v, |regs| {
            if write {
                for (i, value) in values.iter().enumerate() {
                    regs.set_reg(Reg::ALL[first + i], *value);
                }
                KReply::default()
            } else {
                KReply::words(core::array::from_fn(|i| {
                    Reg::ALL.get(first + i).map_or(0, |r| regs.reg(*r))
                }))
            }
        });
        Ok(reply)
    }
}
