//! Per-CPU transaction numbers and transient pins (seed 001, section 3; DESIGN.md "Transient
//! pins and the cleaner").
//!
//! # Invariants
//! - A transaction number is odd, so the all-zero state of a fresh pin never matches one.
//! - Each CPU's number only grows, by 2 on every kernel entry (wrapping after 2^63 entries,
//!   which no machine reaches).
//! - A pin has one slot per CPU. An object is pinned while some CPU's slot equals that CPU's
//!   current number; the next entry on that CPU releases the pin with no undo. Per-CPU slots
//!   let several CPUs pin one object in the same instant without overwriting each other.
//!
//! # Assumptions
//! - Only CPU `c` advances its own counter and writes slot `c` of any pin.
//! - A pin is written while the pinning path holds the object's lock (at least for read), and
//!   the cleaner write-locks an entry before it tests the pin and evicts: that lock, not the
//!   atomics, orders a pin against an eviction.

use super::atomic::{AtomicU64, Ordering};
use super::cpu::{CpuId, MAX_CPUS};

/// One kernel entry's number on one CPU: odd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Transaction(u64);

impl Transaction {
    /// The number of the first entry on every CPU.
    pub const FIRST: Transaction = Transaction(1);

    /// The raw number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The next entry's number.
    pub const fn next(self) -> Transaction {
        Transaction(self.0.wrapping_add(2))
    }
}

/// Every CPU's current transaction number, readable by all CPUs (the cleaner on one CPU must
/// see pins taken on another).
#[derive(Debug)]
pub struct Transactions {
    current: [AtomicU64; MAX_CPUS],
}

impl Default for Transactions {
    fn default() -> Self {
        Transactions::new()
    }
}

impl Transactions {
    /// Every CPU at `Transaction::FIRST`, as if each had just entered the kernel once.
    pub fn new() -> Transactions {
        Transactions {
            current: core::array::from_fn(|_| AtomicU64::new(Transaction::FIRST.0)),
        }
    }

    /// Called by `cpu` on every kernel entry: releases every pin that CPU took before.
    #[inline]
    pub fn enter(&self, cpu: CpuId) -> Transaction {
        let slot = &self.current[cpu.index()];
        let next = Transaction(slot.load(Ordering::Relaxed)).next();
        slot.store(next.0, Ordering::Release);
        next
    }

    /// `cpu`'s current transaction number.
    pub fn current(&self, cpu: CpuId) -> Transaction {
        Transaction(self.current[cpu.index()].load(Ordering::Acquire))
    }
}

/// The transient-pin field an object or cache entry carries.
#[derive(Debug)]
pub struct TransientPin {
    by_cpu: [AtomicU64; MAX_CPUS],
}

impl Default for TransientPin {
    fn default() -> Self {
        TransientPin::new()
    }
}

impl TransientPin {
    /// Not pinned by anyone.
    pub fn new() -> TransientPin {
        TransientPin {
            by_cpu: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Pins for the rest of `cpu`'s current kernel entry.
    pub fn pin(&self, cpu: CpuId, txns: &Transactions) {
        self.by_cpu[cpu.index()].store(txns.current(cpu).0, Ordering::Relaxed);
    }

    /// Whether `cpu`'s current entry pinned this.
    pub fn is_pinned_by(&self, cpu: CpuId, txns: &Transactions) -> bool {
        self.by_cpu[cpu.index()].load(Ordering::Relaxed) == txns.current(cpu).0
    }

    /// Whether any CPU's current entry pinned this: if so the cleaner must leave it alone.
    pub fn is_pinned(&self, txns: &Transactions) -> bool {
        CpuId::all().any(|cpu| self.is_pinned_by(cpu, txns))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn cpu(n: usize) -> CpuId {
        CpuId::new(n).unwrap()
    }

    #[test]
    fn numbers_are_odd_and_step_by_two() {
        let t = Transactions::new();
        assert_eq!(t.current(cpu(0)), Transaction::FIRST);
        assert_eq!(t.enter(cpu(0)).get(), 3);
        assert_eq!(t.enter(cpu(0)).get(), 5);
        assert_eq!(
            t.current(cpu(1)),
            Transaction::FIRST,
            "CPUs count independently"
        );
    }

    #[test]
    fn a_fresh_pin_pins_nothing() {
        assert!(!TransientPin::new().is_pinned(&Transactions::new()));
    }

    #[test]
    fn the_next_entry_releases_the_pin() {
        let t = Transactions::new();
        let p = TransientPin::new();
        t.enter(cpu(1));
        p.pin(cpu(1), &t);
        assert!(p.is_pinned(&t));
        assert!(p.is_pinned_by(cpu(1), &t));
        assert!(!p.is_pinned_by(cpu(0), &t));
        t.enter(cpu(0));
        assert!(p.is_pinned(&t), "another CPU's entry does not release it");
        t.enter(cpu(1));
        assert!(!p.is_pinned(&t));
    }

    #[test]
    fn two_cpus_pin_one_object_independently() {
        let t = Transactions::new();
        let p = TransientPin::new();
        p.pin(cpu(0), &t);
        p.pin(cpu(2), &t);
        t.enter(cpu(0));
        assert!(p.is_pinned(&t), "CPU 2's pin survives CPU 0's next entry");
        t.enter(cpu(2));
        assert!(!p.is_pinned(&t));
    }
}
