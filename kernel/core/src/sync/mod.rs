//! The kernel core's concurrency primitives: stubborn reader/writer locks, the per-CPU
//! held-lock list, transaction numbers and transient pins (seed 001; DESIGN.md "SMP").
//!
//! Nothing here sleeps: a kernel path that cannot proceed spins (when that is deadlock-free) or
//! gives up with `Restart`, releases everything and re-runs the call from its saved registers.
//!
//! # The kernel lock order
//! Locks are taken top to bottom. The concrete order of object keys is `LockKey` in
//! `lock_key.rs` (kind, then table index); the levels below are what other files cite.
//! 1. **The caller's own process lock** (the seed's "process self-lock"): the first lock of
//!    every path, a write lock on the held-lock list. It is *not* held while the process runs in
//!    user mode, so nothing is held past kernel exit (refining seed 001, section 4.3).
//! 2. **Marshal-phase object locks.** Read locks, in any order: a key not above every held key
//!    is only tried, and failure returns `Restart` (`HeldLocks`), so any order is deadlock-free.
//!    `HeldLocks::operate` drops them all before the first operation lock (seed 001 section
//!    5.3, rules 1 and 2; debug builds assert that the marshal phase writes nothing but the
//!    self-lock).
//! 3. **Operation-phase object locks**: ascending key order (`HeldLocks::lock_in_order`), or by try-lock with `Restart`. The
//!    general rule of `HeldLocks` covers 1 to 3 at once: a path spins only for a key above every
//!    key it holds, so wait-for edges always point upward and cannot close a cycle.
//!
//! **Refined: more than the seed's two operation locks, several of them writes.** Seed 001
//! (section 5.3, rule 3) allows two, one a write, because there a path that cannot get a lock
//! spins while holding the others, and with more locks spinning paths can conflict round and
//! round with marshal phases elsewhere. Here a path spins only for a key above all it holds and
//! otherwise gives up everything (`Restart`), so holding more locks adds no wait-for edge that
//! points down: MAP holds page, space and bank, a process DESTROY its bank, the victim and the
//! holders of the victim's queues. Progress after a restart is statistical (section 6.1 accepts
//! that), which the simulator's seeds exercise. The general invocation path's marshal phase
//! takes no lock but the self-lock: capabilities are copied out of the caller by value and a
//! copy's liveness is a generation compare, re-checked under the operation locks (section 6.2's
//! re-prepare: an argument whose object died meanwhile acts as Null, a reply to a process no
//! longer waiting is dropped), so a read lock on the invoked object would buy nothing there.
//! A page fault's resolution is a marshal phase alone: read locks down the translation.
//! 4. **Reclaimable-cache locks** (the cleaner's tables, `cleaner::ReclaimableCache`): one per
//!    address space for the derived page tables (`derived_tables.rs`), so faults in different
//!    spaces share no lock. Leaves: taken alone, in the prepare phase, for one lookup, pin,
//!    insert or eviction; the cleaner visits the spaces' caches one at a time.
//! 5. **Stall queues** have no lock of their own: a queue is guarded by the lock of the object
//!    it lives in (a process's sender and leaving queues by that process's lock), held on the
//!    list at level 1 to 3. The post activities have no lock either: an allotment is one atomic
//!    word and a waiting sender is its own (`post.rs`), so no global lock is on a common path.
//! 6. **Table free lists.** Leaves: held alone for one pop or push.
//! 7. **Run-queue locks**, two per CPU: its processes' and its post activities'
//!    (`post_run.rs`). Leaves: a waker takes the target CPU's lock last; the post run queue is
//!    taken only with its CPU's process run queue held (it publishes its levels there), so the
//!    two are always taken in that order, and two CPUs' run queues are never held together.
//! 8. **A post activity's contents** (`post.rs`). Leaves: held alone for one copy in or out.
//!
//! Leaf locks (4, 6, 7, 8) are never held while spinning for another lock, so they need no place
//! on the held-lock list. There is no global halt lock: seed 001 (section 5.4) needs one only
//! because a running process's lock stays held across user mode, so two CPUs halting each
//! other's processes could each wait for a lock the other never drops. Here halting is an
//! ordinary write lock on the target under rule 3; a target running elsewhere is halted, its
//! CPU interrupted, and the halter KernStalls until that CPU has left it (`orders/lifecycle.rs`).
#![deny(unsafe_code)]

pub mod atomic;
pub mod cpu;
pub mod held_locks;
pub mod mrow;
pub mod transaction;

pub use cpu::{CpuId, MAX_CPUS};
pub use held_locks::{HeldLocks, LockMode, LockTable, Restart, Turn};
pub use mrow::MrowLock;
pub use transaction::{Transaction, Transactions, TransientPin};
