//! The trace orders of a process capability (`order::process::TRACE_EVENT`, `TRACE_SWITCH`):
//! a program's own events, and switching the platform's trace on and off.

use tessera_abi::trace::Kind;
use tessera_abi::Error;

use crate::cap::ObjId;
use crate::cpu::Cpu;
use crate::invoke::object::KReply;
use crate::invoke::Msg;
use crate::kernel::Kernel;
use crate::platform::Platform;
use crate::trace::Event;

impl<P: Platform> Kernel<P> {
    /// TRACE_EVENT on process `v`: `d0` = code, `d1`, `d2` = arguments.
    pub(crate) fn trace_event(&self, cpu: &Cpu, v: ObjId, msg: &Msg) -> Result<KReply, Error> {
        if !P::TRACES {
            return Err(Error::BadState);
        }
        let code = u16::try_from(msg.data[0]).map_err(|_| Error::InvalidArgument)?;
        if !self.processes.is_live(v) {
            return Err(Error::NullCapability);
        }
        // COMMIT POINT: the code is checked; the event only records values.
        let event = Event {
            kind: Kind::User,
            process: v.index,
            code,
            a: msg.data[1],
            b: msg.data[2],
        };
        self.platform.trace(cpu.id, event);
        Ok(KReply::default())
    }

    /// TRACE_SWITCH: `d0` = 1 starts tracing, 0 stops it (the platform writes the rings out).
    pub(crate) fn trace_switch(&self, msg: &Msg) -> Result<KReply, Error> {
        if !P::TRACES {
            return Err(Error::BadState);
        }
        let on = match msg.data[0] {
            0 => false,
            1 => true,
            _ => return Err(Error::InvalidArgument),
        };
        // COMMIT POINT: the argument is checked; the platform's switch cannot fail.
        let recorded = self.platform.trace_switch(on);
        Ok(KReply::words([recorded, 0, 0, 0]))
    }
}
