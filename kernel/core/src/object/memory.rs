//! Pages, address spaces and capability pages: the memory objects.
//!
//! # Invariants
//! - A page owns one platform frame from creation to destruction.
//! - An address space's mapping records are the truth; hardware page tables are a cache derived
//!   from them. A record whose page has been destroyed counts as absent (its `ObjId` no longer
//!   matches), so destroying a page needs no search of the spaces that map it.
//! - At most `MAX_MAPPINGS` records per space.

use alloc::vec::Vec;
use tessera_abi::cap::CAP_PAGE_SLOTS;
use tessera_abi::Rights;

use crate::cap::{Cap, ObjId};
use crate::platform::Frame;

/// A page of memory.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    /// Its frame.
    pub frame: Frame,
    /// The bank it came from.
    pub bank: ObjId,
}

/// One mapping record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The page mapped.
    pub page: ObjId,
    /// Its frame (copied so the derived page tables need not look the page up).
    pub frame: Frame,
    /// What the mapping allows.
    pub rights: Rights,
}

/// Mapping records sorted by virtual page number. Room is reserved in the prepare phase
/// (`reserve_one`), so `insert` after a commit point never allocates.
#[derive(Debug, Default)]
pub struct Mappings(Vec<(u64, Mapping)>);

impl Mappings {
    fn find(&self, vpn: u64) -> Result<usize, usize> {
        self.0.binary_search_by_key(&vpn, |(v, _)| *v)
    }

    /// The record of `vpn`.
    pub fn get(&self, vpn: &u64) -> Option<&Mapping> {
        self.find(*vpn).ok().map(|i| &self.0[i].1)
    }

    /// Whether `vpn` has a record.
    pub fn contains_key(&self, vpn: &u64) -> bool {
        self.find(*vpn).is_ok()
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every mapped virtual page number, ascending.
    pub fn keys(&self) -> impl Iterator<Item = &u64> + '_ {
        self.0.iter().map(|(v, _)| v)
    }

    /// Makes room for one more record (prepare phase); false if memory is short.
    pub fn reserve_one(&mut self) -> bool {
        self.0.try_reserve(1).is_ok()
    }

    /// Sets the record of `vpn`, returning the one it replaces.
    pub fn insert(&mut self, vpn: u64, m: Mapping) -> Option<Mapping> {
        match self.find(vpn) {
            Ok(i) => Some(core::mem::replace(&mut self.0[i].1, m)),
            Err(i) => {
                self.0.insert(i, (vpn, m));
                None
            }
        }
    }

    /// Removes the record of `vpn`.
    pub fn remove(&mut self, vpn: &u64) -> Option<Mapping> {
        self.find(*vpn).ok().map(|i| self.0.remove(i).1)
    }
}

/// An address space.
#[derive(Debug)]
pub struct Space {
    /// Virtual page number to mapping.
    pub mappings: Mappings,
    /// The bank it came from.
    pub bank: ObjId,
}

impl Space {
    /// An empty space.
    pub fn new(bank: ObjId) -> Space {
        Space {
            mappings: Mappings::default(),
            bank,
        }
    }
}

/// A page of capabilities.
#[derive(Debug)]
pub struct CapPage {
    /// The slots.
    pub caps: [Cap; CAP_PAGE_SLOTS],
    /// The bank it came from.
    pub bank: ObjId,
}

impl CapPage {
    /// A page of Null capabilities.
    pub fn new(bank: ObjId) -> CapPage {
        CapPage {
            caps: [Cap::NULL; CAP_PAGE_SLOTS],
            bank,
        }
    }
}

/// An interrupt line and the endpoint its interrupts are posted to.
#[derive(Clone, Copy, Debug, Default)]
pub struct IrqLine {
    /// The bound endpoint.
    pub bound: Option<Cap>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(i: u32) -> Mapping {
        Mapping {
            page: ObjId {
                index: i,
                generation: 1,
            },
            frame: Frame(u64::from(i)),
            rights: Rights::READ,
        }
    }

    #[test]
    fn records_stay_sorted_and_replace_in_place() {
        let mut s = Mappings::default();
        for vpn in [9, 3, 7] {
            assert!(s.reserve_one());
            assert_eq!(s.insert(vpn, m(vpn as u32)), None);
        }
        assert_eq!(s.keys().copied().collect::<Vec<_>>(), vec![3, 7, 9]);
        assert_eq!(s.insert(7, m(1)), Some(m(7)));
        assert_eq!(s.get(&7), Some(&m(1)));
        assert_eq!(s.remove(&3), Some(m(3)));
        assert_eq!(s.remove(&3), None);
        assert!(!s.contains_key(&3));
        assert_eq!(s.len(), 2);
    }
}
