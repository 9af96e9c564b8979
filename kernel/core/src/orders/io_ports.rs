//! I/O-port orders (`tessera_abi::order::io_ports`): let a process use a range of ports from
//! user mode, or no longer. Which ports a range holds is the platform's; the core checks the
//! capabilities, locks the target process, and tells the platform after the commit point.

use tessera_abi::{order, CapType, Error, Rights};

use crate::cap::Cap;
use crate::cpu::Cpu;
use crate::invoke::object::{need, KReply, OrderResult};
use crate::invoke::Msg;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::outcome::Refusal;
use crate::platform::Platform;

impl<P: Platform> Kernel<P> {
    pub(crate) fn io_ports_order(&self, cpu: &mut Cpu, cap: Cap, msg: &Msg) -> OrderResult {
        if !matches!(msg.order, order::io_ports::GRANT | order::io_ports::REVOKE) {
            return Err(Error::UnknownOrder.into());
        }
        let target = msg.caps[0];
        if target.ty != CapType::Process {
            return Err(Refusal::Error(if target.is_null() {
                Error::NullArgument
            } else {
                Error::WrongType
            }));
        }
        need(&cap, Rights::WRITE).and_then(|()| need(&target, Rights::WRITE))?;
        cpu.held.write(self, LockKey::process(target.obj.index))?;
        if !self.processes.is_live(target.obj) {
            return Err(Error::NullArgument.into());
        }
        // COMMIT POINT: the target is locked and alive; the grant cannot fail.
        let range = (msg.order == order::io_ports::GRANT).then_some(cap.obj.index);
        self.platform.io_ports_granted(target.obj, range);
        Ok(KReply::default())
    }
}
