//! Invocations of kernel objects: they answer order codes as if they were servers
//! (`tessera_abi::order`). Each order's handler lives in `orders/` and is the operation phase
//! of the invocation path (`invoke/mod.rs`): its locks, ascending or tried, the checks that
//! re-prepare its capabilities under them, `// COMMIT POINT`, operation. It answers with a
//! `KReply` or refuses with a `Refusal`.

use tessera_abi::message::DATA_WORDS;
use tessera_abi::{order, CapType, Error, Rights};

use super::Msg;
use crate::cap::{Cap, ObjId};
use crate::cpu::Cpu;
use crate::kernel::Kernel;
use crate::outcome::Refusal;
use crate::platform::Platform;

/// What an order returns to its caller: data words and at most one capability.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KReply {
    pub data: [u64; DATA_WORDS],
    pub cap: Option<Cap>,
    /// The order is not over: it stopped this process, which still runs on another CPU, and
    /// the caller stalls until that CPU has left it, then re-runs the order (seed 001 §5.4).
    pub wait_leaving: Option<ObjId>,
}

impl KReply {
    /// A reply of data words only.
    pub fn words(data: [u64; DATA_WORDS]) -> KReply {
        KReply {
            data,
            cap: None,
            wait_leaving: None,
        }
    }

    /// The caller waits for `v` to leave the CPU it runs on, then re-runs the order.
    pub fn wait_leaving(v: ObjId) -> KReply {
        KReply {
            wait_leaving: Some(v),
            ..KReply::default()
        }
    }

    /// A reply carrying a capability.
    pub fn cap(cap: Cap) -> KReply {
        KReply {
            data: [0; DATA_WORDS],
            cap: Some(cap),
            wait_leaving: None,
        }
    }
}

/// An order's outcome: its reply, or its refusal (an error for the caller, or a restart).
pub(crate) type OrderResult = Result<KReply, Refusal>;

/// Refuses unless `cap` carries every right in `needed`.
pub(crate) fn need(cap: &Cap, needed: Rights) -> Result<(), Error> {
    if cap.rights.contains(needed) {
        Ok(())
    } else {
        Err(Error::MissingRights)
    }
}

impl<P: Platform> Kernel<P> {
    /// Checks an argument that must be a live capability of type `ty`: Null, or one whose
    /// object is dead (it acts as Null: seed 001 section 6.2), is `NullArgument`; another type
    /// is `WrongType`.
    pub(crate) fn live_argument(&self, arg: Cap, ty: CapType) -> Result<(), Refusal> {
        if arg.ty != ty {
            return Err(Refusal::Error(if arg.is_null() {
                Error::NullArgument
            } else {
                Error::WrongType
            }));
        }
        if !self.is_live(&arg) {
            return Err(Error::NullArgument.into());
        }
        Ok(())
    }

    /// Runs `msg.order` on the live kernel object `cap` names.
    pub(crate) fn object_order(&self, cpu: &mut Cpu, cap: Cap, msg: &Msg) -> OrderResult {
        if msg.order == order::GET_TYPE {
            // COMMIT POINT: nothing to prepare; the type is in the capability.
            return Ok(KReply::words([cap.ty as u64, 0, 0, 0]));
        }
        match cap.ty {
            CapType::Bank => self.bank_order(cpu, cap, msg),
            CapType::Process => self.process_order(cpu, cap, msg),
            CapType::Page => self.page_order(cpu, cap, msg),
            CapType::AddressSpace => self.space_order(cpu, cap, msg),
            CapType::CapPage => self.cap_page_order(cpu, cap, msg),
            CapType::IrqLine => self.irq_order(cpu, cap, msg),
            CapType::IoPorts => self.io_ports_order(cpu, cap, msg),
            CapType::Alarm => self.alarm_order(cpu, cap, msg),
            CapType::Null | CapType::Endpoint | CapType::Resume => Err(Error::WrongType.into()),
        }
    }

    /// Runs an order on behalf of the kernel itself (boot code, the simulator's setup): the
    /// same path as an invocation, without a calling process.
    pub fn kernel_invoke(
        &self,
        cpu: &mut Cpu,
        cap: Cap,
        order: u32,
        data: &[u64],
        caps: &[Cap],
    ) -> Result<([u64; DATA_WORDS], Option<Cap>), Error> {
        let msg = Msg::kernel(order, data, caps);
        loop {
            self.txns.enter(cpu.id);
            let r = if self.is_live(&cap) {
                self.object_order(cpu, cap, &msg)
            } else {
                Err(Error::NullCapability.into())
            };
            cpu.held.release_all(self);
            let answer = match r {
                Ok(k) => Ok((k.data, k.cap)),
                Err(Refusal::Error(e)) => Err(e),
                Err(Refusal::Restart) => {
                    crate::sync::atomic::spin_loop();
                    continue;
                }
            };
            self.run_deferred(cpu);
            return answer;
        }
    }
}
