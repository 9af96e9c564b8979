//! The alarm object: a deadline on the kernel's clock, and where to POST when it passes.
//!
//! # Invariants (checked by `Kernel::check_invariants`)
//! - `armed` is `Some(a)` exactly when the alarm is queued in CPU `a.cpu`'s alarm queue, with
//!   deadline `a.deadline`; both change only under the alarm's write lock.

use crate::cap::{Cap, ObjId};
use crate::sync::CpuId;

/// How an armed alarm fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Armed {
    /// When, in nanoseconds since boot (`tessera_abi::clock`).
    pub deadline: u64,
    /// The period of a periodic alarm; 0 for one-shot.
    pub period: u64,
    /// The Endpoint the POST goes to.
    pub endpoint: Cap,
    /// The POST's word.
    pub word: u64,
    /// The CPU whose alarm queue holds it.
    pub cpu: CpuId,
}

/// An alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alarm {
    /// The bank it was created from.
    pub bank: ObjId,
    /// Its arming, if armed.
    pub armed: Option<Armed>,
    /// Expiries POSTed (or merged into a POST still queued).
    pub fired: u64,
}

impl Alarm {
    /// A disarmed alarm created from `bank`.
    pub fn new(bank: ObjId) -> Alarm {
        Alarm {
            bank,
            armed: None,
            fired: 0,
        }
    }
}
