//! `LockKey`: the name of every object lock, and their one total order.
//!
//! # Invariants
//! - Keys order first by kind (process, bank, page, space, capability page, IRQ line, post
//!   pool), then by table index; that order is the kernel's "ascending address order".
//!
//! # The lock order of the core, as built
//! 1. **Object locks** (every `LockKey`, the post pool included), on the CPU's held-lock list.
//!    A path takes them in its prepare phase only: the caller first, then what it invokes, the
//!    holders of queues it is in or owns, the post pool. `HeldLocks` spins for a key only when
//!    it is above every key held, and otherwise tries once and restarts the whole call, so no
//!    cycle of waiters can form. All are released together at the end of the path.
//! 2. **Leaf locks**: a table's free list, the derived page-table cache, a CPU's run queue.
//!    Taken alone, for one short action, while a path holds object locks; never held while
//!    waiting for any other lock.
//! 3. The `RwLock` inside each table slot is not part of the order: it is only how safe Rust
//!    reaches an object whose object lock the path holds, and is never contended (`table.rs`).
//!
//! No lock is held past kernel exit, the running process's included: a process running on
//! another CPU is halted by marking it and interrupting that CPU (`orders/lifecycle.rs`).

/// The name of an object lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockKey {
    /// A process, by table index.
    Process(u32),
    /// A bank.
    Bank(u32),
    /// A page.
    Page(u32),
    /// An address space.
    Space(u32),
    /// A capability page.
    CapPage(u32),
    /// An IRQ line.
    Irq(u32),
    /// The post-activity pool.
    PostPool,
}
