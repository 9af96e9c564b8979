//! Trace events: what the core tells the platform's trace (`Platform::trace`) at each step
//! worth seeing on a timeline (the kinds and their arguments are `tessera_abi::trace`).
//!
//! # Guarantees
//! - A site is one `trace_event!` line. Without the cargo feature `trace` it expands to
//!   nothing, so the kernel's paths compile to exactly what they were without tracing (even
//!   a dead use of a value can change how the compiler lays out the path); with it, the site
//!   calls `Platform::trace`.
//! - Events are reported only after a path's commit point (a path re-run after `Restart`
//!   reports nothing twice), except where a comment at the site says otherwise.

use tessera_abi::trace::Kind;

#[cfg(feature = "trace")]
use crate::kernel::Kernel;
#[cfg(feature = "trace")]
use crate::platform::Platform;
#[cfg(feature = "trace")]
use crate::sync::CpuId;

pub use tessera_abi::trace::NO_PROCESS;

/// `trace_event!(kernel, cpu, Kind, process, a, b)`: reports an event (`Kernel::trace`) when
/// the core is built with the `trace` feature; without it the site is no code at all.
macro_rules! trace_event {
    ($kernel:expr, $cpu:expr, $kind:ident, $process:expr, $a:expr, $b:expr) => {
        #[cfg(feature = "trace")]
        $kernel.trace($cpu, tessera_abi::trace::Kind::$kind, $process, $a, $b);
    };
}

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

#[cfg(feature = "trace")]
impl<P: Platform> Kernel<P> {
    /// Reports an event of `kind` about `process` on `cpu`.
    #[inline(always)]
    pub(crate) fn trace(&self, cpu: CpuId, kind: Kind, process: u32, a: u64, b: u64) {
        self.platform.trace(
            cpu,
            Event {
                kind,
                process,
                code: 0,
                a,
                b,
            },
        );
    }
}
