//! What the fuzzer's processes share: they run in one address space (the fuzzer's own), so the
//! counters the checks read are plain atomics here.
//!
//! Invariants: `sent[w]` counts the sequence-numbered POSTs worker `w` had accepted by the
//! kernel, `received[w]` those the receiver took, in order; only worker `w` writes `sent[w]`
//! and only the receiver writes `received[w]`.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Most workers (clients) a campaign runs.
pub const MAX_CLIENTS: usize = 16;

/// A kind of failure the checks found; the first of each is printed by the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Failure {
    /// A sequence-numbered POST arrived out of order or twice.
    PostOrder = 0,
    /// A worker's DESTROY of an object it made failed.
    Destroy = 1,
    /// A worker's structured step failed where it cannot (making a victim from quota it has).
    Setup = 2,
}

pub struct Shared {
    /// Invocations made by the workers, in all: what the campaign's count counts.
    pub invocations: AtomicU64,
    /// Invocations made by the servers and the receiver (answering, mostly).
    pub served: AtomicU64,
    /// Set by the controller once the campaign's count is reached: workers clean up and halt.
    pub stop: AtomicBool,
    pub sent: [AtomicU64; MAX_CLIENTS],
    pub received: [AtomicU64; MAX_CLIENTS],
    /// A worker has cleaned up and is about to halt itself.
    pub done: [AtomicBool; MAX_CLIENTS],
    /// Failures by kind, and a detail word of the first of each.
    pub failures: [AtomicU64; 3],
    pub detail: [AtomicU64; 3],
    /// What each worker is doing ([`Phase`]), for the controller's report of a stuck one.
    pub phase: [AtomicU64; MAX_CLIENTS],
    /// Objects made and destroyed by the workers' structured steps, victims started.
    pub created: AtomicU64,
    pub destroyed: AtomicU64,
    pub victims: AtomicU64,
    pub out_of_quota: AtomicU64,
}

pub static SHARED: Shared = Shared {
    invocations: AtomicU64::new(0),
    served: AtomicU64::new(0),
    stop: AtomicBool::new(false),
    sent: [const { AtomicU64::new(0) }; MAX_CLIENTS],
    received: [const { AtomicU64::new(0) }; MAX_CLIENTS],
    done: [const { AtomicBool::new(false) }; MAX_CLIENTS],
    phase: [const { AtomicU64::new(0) }; MAX_CLIENTS],
    failures: [const { AtomicU64::new(0) }; 3],
    detail: [const { AtomicU64::new(0) }; 3],
    created: AtomicU64::new(0),
    destroyed: AtomicU64::new(0),
    victims: AtomicU64::new(0),
    out_of_quota: AtomicU64::new(0),
};

impl Shared {
    /// Records one failure of `kind`, keeping `detail` if it is the first.
    pub fn fail(&self, kind: Failure, detail: u64) {
        if self.failures[kind as usize].fetch_add(1, Relaxed) == 0 {
            self.detail[kind as usize].store(detail, Relaxed);
        }
    }

    pub fn count(&self, n: u64) {
        self.invocations.fetch_add(n, Relaxed);
    }

    pub fn serve(&self, n: u64) {
        self.served.fetch_add(n, Relaxed);
    }
}
