//! The bank: a memory quota from which objects are created and to which they return.
//!
//! # Invariants (checked by `Kernel::check_invariants`)
//! - `used <= quota`.
//! - `used` is the sum of the costs of the live objects created from this bank: one unit per
//!   object, plus the quota of each child bank, plus what each address space has grown into
//!   (`Space::charged`: its mapping records and the regions of its derived page tables).
//! - `objects` counts those live objects; a bank is destroyed only when it is zero.

use tessera_abi::CapType;

use crate::cap::ObjId;

/// A bank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bank {
    /// Units this bank may hand out.
    pub quota: u64,
    /// Units handed out.
    pub used: u64,
    /// Live objects created from it.
    pub objects: u64,
    /// The bank it was created from (`None` for a boot bank).
    pub parent: Option<ObjId>,
}

impl Bank {
    /// A bank with `quota` units and nothing created yet.
    pub fn new(quota: u64, parent: Option<ObjId>) -> Bank {
        Bank {
            quota,
            used: 0,
            objects: 0,
            parent,
        }
    }

    /// Units left.
    pub fn available(&self) -> u64 {
        self.quota - self.used
    }

    /// Whether `cost` units can be charged.
    pub fn can_charge(&self, cost: u64) -> bool {
        cost <= self.available()
    }

    /// Charges one new object of `cost` units (after `can_charge` said yes).
    pub fn charge(&mut self, cost: u64) {
        self.used += cost;
        self.objects += 1;
    }

    /// Returns a destroyed object's `cost` units.
    pub fn refund(&mut self, cost: u64) {
        self.used -= cost;
        self.objects -= 1;
    }

    /// Charges `units` more to a live object (kernel memory it grows into; after `can_charge`).
    pub fn charge_more(&mut self, units: u64) {
        self.used += units;
    }

    /// Returns `units` a live object no longer needs.
    pub fn refund_some(&mut self, units: u64) {
        self.used -= units;
    }
}

/// What creating an object of `ty` costs, or `None` if a bank cannot create that type. A child
/// bank costs its quota plus one.
pub fn cost(ty: CapType, child_quota: u64) -> Option<u64> {
    match ty {
        CapType::Process
        | CapType::Page
        | CapType::AddressSpace
        | CapType::CapPage
        | CapType::Alarm => Some(1),
        CapType::Bank => child_quota.checked_add(1),
        CapType::Null
        | CapType::Endpoint
        | CapType::Resume
        | CapType::IrqLine
        | CapType::IoPorts => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charge_and_refund_balance() {
        let mut b = Bank::new(3, None);
        assert!(b.can_charge(3));
        b.charge(2);
        assert!(!b.can_charge(2));
        b.refund(2);
        assert_eq!(b, Bank::new(3, None));
        assert_eq!(cost(CapType::Bank, u64::MAX), None);
        assert_eq!(cost(CapType::Endpoint, 0), None);
    }
}
