//! IRQ-line orders (`tessera_abi::order::irq`): bind a line to an endpoint, unbind it.

use tessera_abi::{order, CapType, Error, Rights};

use crate::cap::Cap;
use crate::cpu::Cpu;
use crate::invoke::object::{need, KReply, OrderResult};
use crate::invoke::Msg;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::platform::Platform;

impl<P: Platform> Kernel<P> {
    pub(crate) fn irq_order(&self, cpu: &mut Cpu, cap: Cap, msg: &Msg) -> OrderResult {
        if !matches!(msg.order, order::irq::BIND | order::irq::UNBIND) {
            return Ok(Err(Error::UnknownOrder));
        }
        if let Err(e) = need(&cap, Rights::WRITE) {
            return Ok(Err(e));
        }
        let endpoint = msg.caps[0];
        if msg.order == order::irq::BIND {
            if endpoint.ty != CapType::Endpoint {
                return Ok(Err(if endpoint.is_null() {
                    Error::NullArgument
                } else {
                    Error::WrongType
                }));
            }
            if !self.is_live(&endpoint) {
                return Ok(Err(Error::NullArgument));
            }
        }
        let line = cap.obj.index;
        cpu.held.write(self, LockKey::irq(line))?;
        let Some(irq) = self.irqs.get(line as usize) else {
            return Ok(Err(Error::NullCapability));
        };
        let bound = irq.read(|l| l.bound.is_some());
        if bound == (msg.order == order::irq::BIND) {
            return Ok(Err(Error::BadState));
        }
        // COMMIT POINT: the line is locked and in the state the order needs.
        irq.write(|l| l.bound = (msg.order == order::irq::BIND).then_some(endpoint));
        Ok(Ok(KReply::default()))
    }
}
