//! The core's result vocabulary, said once (Hubris's `NextTask` is the model):
//! - `Next`: what happens after an invocation path, for the process that invoked.
//! - `Refusal`: why an operation did not go ahead: the caller gets an error, or the path
//!   restarts on lock contention. `?` turns an `Error` or a `Restart` into one.
//!
//! The fast path's own outcome is `invoke/fastpath.rs::Fast`, which says less: it either ran
//! the whole call or leaves it to the general path.

use tessera_abi::Error;

use crate::cap::ObjId;
use crate::sync::Restart;

/// What the invocation path leaves behind, for its kernel entry to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// The caller goes on here at once, in address space `space` (`None`: it has none that
    /// lives). Its registers, reply included, were copied into the frame under its lock at
    /// the end of the path, so a quiet exit need not lock it again (`Kernel::quiet_exit`).
    Same {
        /// Its live address space.
        space: Option<ObjId>,
    },
    /// The kernel exit decides what runs: the caller waits, was halted, or goes on with its
    /// registers only in its save area (the exit copies them out if it keeps it).
    Exit,
    /// The caller stalled on a queue (KernStall, seed 002): its call re-runs from its save
    /// area when it is woken, and the exit picks something else to run.
    Stalled,
}

/// An operation that did not go ahead: refused with an error for the caller, or given up
/// before its commit point because a lock was contended (the path re-runs from scratch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The caller's answer; nothing changed.
    Error(Error),
    /// Release every lock and re-run the path (`sync::Restart`).
    Restart,
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Refusal {
        Refusal::Error(e)
    }
}

impl From<Restart> for Refusal {
    fn from(_: Restart) -> Refusal {
        Refusal::Restart
    }
}

impl Refusal {
    /// The error to answer the caller with; a restart goes on up (`?`) to the path's loop.
    pub(crate) fn error(self) -> Result<Error, Restart> {
        match self {
            Refusal::Error(e) => Ok(e),
            Refusal::Restart => Err(Restart),
        }
    }
}
