//! The kernel core's concurrency primitives: stubborn reader/writer locks, the per-CPU
//! held-lock list, transaction numbers and transient pins (seed 001; DESIGN.md "SMP").
//!
//! Nothing here sleeps: a kernel path that cannot proceed spins (when that is deadlock-free) or
//! gives up with `Restart`, releases everything and re-runs the call from its saved registers.
//!
//! # The kernel lock order
//! Locks are taken top to bottom; a path never waits for a lock above one it holds.
//! 1. **Process self-lock.** A CPU write-holds the lock of the process it runs for as long as
//!    that process runs (user mode included: seed 001, section 4.3), so it is not on the
//!    held-lock list and is released when the process is descheduled, not at kernel exit.
//!    Another CPU gets it only by `try_write` or by the halt protocol (8).
//! 2. **Marshal-phase object locks.** Read locks, in any order: taking a key not above every
//!    held key never waits (`HeldLocks` tries once and returns `Restart`). Dropped with
//!    `release_all` before the operation phase when the operation needs other locks.
//! 3. **Operation-phase object locks.** At most two objects (seed 001, section 5.3), in
//!    ascending key order (`HeldLocks::lock_in_order`), or by try-lock with `Restart`.
//! 4. **Reclaimable-cache lock** (the cleaner's table: `cleaner::ReclaimableCache`). Taken only
//!    in the prepare phase, after the object whose derived state it holds.
//! 5. **Stall-queue locks.** Each queue's lock protects that queue and its owner field only;
//!    one at a time; never held while waiting for another lock.
//! 6. **POST activity pool lock.** Protects the free list of post activities; held alone for a
//!    pop or a push.
//! 7. **Run-queue locks** (one per CPU). Protect that CPU's `RunQueue`; a waker takes the
//!    target CPU's lock last and alone, so two run-queue locks are never held together.
//! 8. **Global halt lock.** Held alone and briefly: take it, check whether you are yourself the
//!    target of a stop request (then release it and restart), otherwise record the request and
//!    send the IPI, then *release it* before waiting for the target's self-lock. A CPU waiting
//!    for a running process's self-lock holds no object lock, so it is in no cycle.
//!
//! Levels 4 to 8 are leaf locks: plain `MrowLock`s taken and released around one short action,
//! never across a spin for another lock, so they need no place on the held-lock list.
//!
//! Nothing is held past kernel exit except the self-lock of the process about to run.
#![deny(unsafe_code)]

pub mod atomic;
pub mod cpu;
pub mod held_locks;
pub mod mrow;
pub mod transaction;

pub use cpu::{CpuId, MAX_CPUS};
pub use held_locks::{HeldLocks, LockMode, LockTable, Restart};
pub use mrow::MrowLock;
pub use transaction::{Transaction, Transactions, TransientPin};
