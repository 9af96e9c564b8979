//! IRQ-line orders (`tessera_abi::order::irq`): bind a line to an endpoint, unbind it, and
//! the driver's ACK after it has drained its device.
//!
//! Masking is the platform's (`Platform::set_irq_masked`); when is the core's: BIND unmasks,
//! UNBIND masks, `note_irq` masks a level-triggered line at its interrupt and ACK unmasks it.
//! Every change of a line's mask is made under the line's write lock, except the interrupt's,
//! which can only follow an unmask (a masked line does not interrupt).

use tessera_abi::{order, CapType, Error, Rights};

use crate::cap::Cap;
use crate::cpu::Cpu;
use crate::invoke::object::{need, KReply, OrderResult};
use crate::invoke::Msg;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::memory::IrqLine;
use crate::platform::Platform;
use crate::sync::atomic::Ordering;

impl<P: Platform> Kernel<P> {
    pub(crate) fn irq_order(&self, cpu: &mut Cpu, cap: Cap, msg: &Msg) -> OrderResult {
        if !matches!(
            msg.order,
            order::irq::BIND | order::irq::UNBIND | order::irq::ACK
        ) {
            return Err(Error::UnknownOrder.into());
        }
        need(&cap, Rights::WRITE)?;
        let endpoint = msg.caps[0];
        if msg.order == order::irq::BIND {
            self.live_argument(endpoint, CapType::Endpoint)?;
        }
        let line = cap.obj.index;
        cpu.held.write(self, LockKey::irq(line))?;
        let Some(irq) = self.irqs.get(line as usize) else {
            return Err(Error::NullCapability.into());
        };
        let l = irq.read(|l| *l);
        if msg.order == order::irq::ACK {
            may_ack(&l, msg)?;
            // COMMIT POINT: the line is locked, bound to the caller and awaits this ACK.
            irq.write(|l| {
                l.awaiting_ack = false;
                l.fired_again = false;
            });
            if l.fired_again {
                self.shared(cpu.id)
                    .pending_irqs
                    .fetch_or(1u64 << line, Ordering::AcqRel);
            }
            if self.platform.irq_level_triggered(line) {
                self.platform.set_irq_masked(line, false);
            }
            return Ok(KReply::default());
        }
        let bind = msg.order == order::irq::BIND;
        if l.bound.is_some() == bind {
            return Err(Error::BadState.into());
        }
        // COMMIT POINT: the line is locked and in the state the order needs.
        irq.write(|l| {
            *l = IrqLine {
                bound: bind.then_some(endpoint),
                ..IrqLine::default()
            }
        });
        self.platform.set_irq_masked(line, !bind);
        Ok(KReply::default())
    }
}

/// Whether the caller of `msg` may ACK a line in state `l`: the line must be bound to one of
/// its endpoints (the kernel itself may ACK any bound line) and await an ACK.
fn may_ack(l: &IrqLine, msg: &Msg) -> Result<(), Error> {
    let Some(endpoint) = l.bound else {
        return Err(Error::BadState);
    };
    if msg.caller.is_some_and(|c| c != endpoint.obj) {
        return Err(Error::NotOwner);
    }
    if !l.awaiting_ack {
        return Err(Error::BadState);
    }
    Ok(())
}
