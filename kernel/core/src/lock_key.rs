//! `LockKey`: the name of every object lock, and their one total order.
//!
//! # Invariants
//! - Keys order first by kind (process, bank, page, space, capability page, IRQ line, post
//!   pool), then by table index; that order is the kernel's "ascending address order" for
//!   operation-phase locks (`sync/mod.rs`, level 3).

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
