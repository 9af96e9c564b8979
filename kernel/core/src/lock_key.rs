//! `LockKey`: the name of every object lock, and their one total order.
//!
//! # Invariants
//! - Keys order first by kind (process, bank, page, space, capability page, IRQ line, alarm),
//!   then by table index; that order is the kernel's "ascending address order".
//!
//! # The lock order of the core, as built
//! 1. **Object locks** (every `LockKey`), on the CPU's held-lock list. A path takes them in its
//!    prepare phase only: the caller first, then what it invokes, the holders of queues it is
//!    in or owns. There is no global object lock: the post activities need none (`post.rs`). `HeldLocks` spins for a key only when
//!    it is above every key held, and otherwise tries once and restarts the whole call, so no
//!    cycle of waiters can form. All are released together at the end of the path.
//! 2. **Leaf locks**: a table's free list, the derived page-table cache, a CPU's run queue, a
//!    post activity's contents, a CPU's alarm queue.
//!    Taken alone, for one short action, while a path holds object locks; never held while
//!    waiting for any other lock.
//! 3. There is no lock inside a table slot: its object is reached through a cell that the
//!    slot's object lock alone makes sound (`table.rs`), so nothing more joins the order.
//!
//! No lock is held past kernel exit, the running process's included: a process running on
//! another CPU is halted by marking it and interrupting that CPU (`orders/lifecycle.rs`).

/// What kind of object a lock key names; kinds are ordered as listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockKind {
    /// A process.
    Process,
    /// A bank.
    Bank,
    /// A page.
    Page,
    /// An address space.
    Space,
    /// A capability page.
    CapPage,
    /// An IRQ line.
    Irq,
    /// An alarm.
    Alarm,
}

/// The name of an object lock: its kind in the high half, its table index in the low half,
/// so the lock order is one integer comparison (the held-lock list compares keys constantly).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LockKey(u64);

impl LockKey {
    const fn new(kind: LockKind, index: u32) -> LockKey {
        LockKey(((kind as u64) << 32) | index as u64)
    }

    /// Process `index`.
    pub const fn process(index: u32) -> LockKey {
        LockKey::new(LockKind::Process, index)
    }

    /// Bank `index`.
    pub const fn bank(index: u32) -> LockKey {
        LockKey::new(LockKind::Bank, index)
    }

    /// Page `index`.
    pub const fn page(index: u32) -> LockKey {
        LockKey::new(LockKind::Page, index)
    }

    /// Address space `index`.
    pub const fn space(index: u32) -> LockKey {
        LockKey::new(LockKind::Space, index)
    }

    /// Capability page `index`.
    pub const fn cap_page(index: u32) -> LockKey {
        LockKey::new(LockKind::CapPage, index)
    }

    /// IRQ line `line`.
    pub const fn irq(line: u32) -> LockKey {
        LockKey::new(LockKind::Irq, line)
    }

    /// Alarm `index`.
    pub const fn alarm(index: u32) -> LockKey {
        LockKey::new(LockKind::Alarm, index)
    }

    /// The kind of object named.
    pub const fn kind(self) -> LockKind {
        match self.0 >> 32 {
            0 => LockKind::Process,
            1 => LockKind::Bank,
            2 => LockKind::Page,
            3 => LockKind::Space,
            4 => LockKind::CapPage,
            5 => LockKind::Irq,
            _ => LockKind::Alarm,
        }
    }

    /// The table index of the object named.
    pub const fn index(self) -> u32 {
        self.0 as u32
    }
}

impl core::fmt::Debug for LockKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}({})", self.kind(), self.index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_by_kind_then_index() {
        let keys = [
            LockKey::process(0),
            LockKey::process(u32::MAX),
            LockKey::bank(0),
            LockKey::page(7),
            LockKey::space(1),
            LockKey::cap_page(0),
            LockKey::irq(63),
            LockKey::alarm(2),
        ];
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(LockKey::page(7).kind(), LockKind::Page);
        assert_eq!(LockKey::page(7).index(), 7);
        assert_eq!(format!("{:?}", LockKey::irq(3)), "Irq(3)");
    }
}
