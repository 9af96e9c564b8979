//! Trace events: what the core tells the platform's trace (`Platform::trace`) at each step
//! worth seeing on a timeline (the kinds and their arguments are `tessera_abi::trace`).
//!
//! # Guarantees
//! - A site is one call of `Kernel::trace` with plain values; the default `Platform::trace` is
//!   empty and inlined, so a platform that does not trace pays nothing for the sites.
//! - Events are reported only after a path's commit point (a path re-run after `Restart`
//!   reports nothing twice), except where a comment at the site says otherwise.

use tessera_abi::trace::Kind;

use crate::kernel::Kernel;
use crate::platform::Platform;
use crate::sync::CpuId;

pub use tessera_abi::trace::NO_PROCESS;

/// One event as the core reports it; the platform adds the time and the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: Kind,
    /// The process it concerns (`NO_PROCESS`: none).
    pub process: u32,
    /// A user event's code (0 for the kernel's own kinds).
    pub code: u16,
    /// First argument.
    pub a: u64,
    /// Second argument.
    pub b: u64,
}

impl<P: Platform> Kernel<P> {
    /// Reports an event of `kind` about `process` on `cpu`.
    #[inline(always)]
    pub(crate) fn trace(&self, cpu: CpuId, kind: Kind, process: u32, a: u64, b: u64) {
        self.platform.trace(cpu, Event { kind, process, code: 0, a, b });
    }
}
