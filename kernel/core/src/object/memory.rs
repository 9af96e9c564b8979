//! Pages, address spaces and capability pages: the memory objects.
//!
//! # Invariants
//! - A page owns one platform frame from creation to destruction.
//! - An address space's mapping records are the truth; hardware page tables are a cache derived
//!   from them. A record whose page has been destroyed counts as absent (its `ObjId` no longer
//!   matches).
//! - A page's reverse map names every (space, vpn) record of a live space that maps it, so
//!   destroying the page can drop every derived mapping of it before its frame is freed. It is
//!   kept under the page's write lock (MAP adds, UNMAP removes). An entry whose space has been
//!   destroyed is stale, as a record of a destroyed page is: the next MAP of the page drops
//!   stale entries (after dropping their derived mappings), so the list is at most one longer
//!   than the page's live records were at its last MAP.
//! - At most `MAX_MAPPINGS` records per space, and at most `MAX_PAGE_MAPPINGS` live records
//!   (so reverse-map entries) per page.
//!
//! # What a space costs its bank (`Space::charged`)
//! Its own unit covers the object and the root of its derived tables. On top: one unit for
//! each `RECORDS_PER_UNIT` mapping records it holds (a record and its page's reverse-map entry,
//! with room for their vectors to grow), refunded as records go; and one unit for every 2 MiB,
//! 1 GiB and 512 GiB region in which it has ever had a record (the leaf table, directory and
//! pointer table its derived tables may need there), refunded when the space is destroyed,
//! since the platform keeps upper levels until then. So every byte MAP can make the kernel
//! allocate, here or in the platform, is paid for by the space's bank.

use alloc::vec::Vec;
use tessera_abi::cap::CAP_PAGE_SLOTS;
use tessera_abi::Rights;

use crate::cap::{Cap, ObjId};
use crate::platform::Frame;

/// Mapping records (with their reverse-map entries) one bank unit pays for.
pub const RECORDS_PER_UNIT: usize = 64;
/// The most records that may map one page at once: its reverse map is paid for by its unit.
pub const MAX_PAGE_MAPPINGS: usize = 64;

/// A page of memory.
#[derive(Debug)]
pub struct Page {
    /// Its frame.
    pub frame: Frame,
    /// The bank it came from.
    pub bank: ObjId,
    /// The records that map it.
    pub rmap: ReverseMap,
}

impl Page {
    /// A page of `frame`, mapped nowhere.
    pub fn new(frame: Frame, bank: ObjId) -> Page {
        Page {
            frame,
            bank,
            rmap: ReverseMap::default(),
        }
    }
}

/// The (space, virtual page number) records that map one page. Room is reserved in the
/// prepare phase (`reserve_one`), so `insert` after a commit point never allocates.
#[derive(Debug, Default)]
pub struct ReverseMap(Vec<(ObjId, u64)>);

impl ReverseMap {
    /// Makes room for one more entry (prepare phase); false if memory is short.
    pub fn reserve_one(&mut self) -> bool {
        self.0.try_reserve(1).is_ok()
    }

    /// Records that `space` maps the page at `vpn`.
    pub fn insert(&mut self, space: ObjId, vpn: u64) {
        self.0.push((space, vpn));
    }

    /// Forgets `space`'s record at `vpn`.
    pub fn remove(&mut self, space: ObjId, vpn: u64) {
        self.0.retain(|e| *e != (space, vpn));
    }

    /// Removes the entries `stale` says are stale, calling `dropped` on each first.
    pub fn prune(&mut self, stale: impl Fn(ObjId) -> bool, mut dropped: impl FnMut(ObjId, u64)) {
        self.0.retain(|&(s, v)| {
            let gone = stale(s);
            if gone {
                dropped(s, v);
            }
            !gone
        });
    }

    /// How many entries, stale ones included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every (space, vpn) entry.
    pub fn iter(&self) -> impl Iterator<Item = (ObjId, u64)> + '_ {
        self.0.iter().copied()
    }

    /// Whether `space` maps the page at `vpn`, as far as this map knows.
    pub fn contains(&self, space: ObjId, vpn: u64) -> bool {
        self.0.contains(&(space, vpn))
    }
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

    /// Every record, by ascending virtual page number.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Mapping)> + '_ {
        self.0.iter().copied()
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
    /// Units it holds of its bank beyond its own (see the file header).
    pub charged: u64,
    /// The regions it has ever had a record in (`region_keys`), sorted.
    regions: Vec<u64>,
}

/// Bank units that `records` mapping records take.
fn record_units(records: usize) -> u64 {
    records.div_ceil(RECORDS_PER_UNIT) as u64
}

/// The 2 MiB, 1 GiB and 512 GiB regions holding virtual page `vpn`, as sortable keys.
fn region_keys(vpn: u64) -> [u64; 3] {
    [
        (1 << 60) | vpn >> 9,
        (2 << 60) | vpn >> 18,
        (3 << 60) | vpn >> 27,
    ]
}

impl Space {
    /// An empty space.
    pub fn new(bank: ObjId) -> Space {
        Space {
            mappings: Mappings::default(),
            bank,
            charged: 0,
            regions: Vec::new(),
        }
    }

    /// The units a MAP at `vpn` costs: a unit of records if it adds one (not replacing a
    /// record of a destroyed page) and crosses into the next, and a unit per new region.
    pub fn map_cost(&self, vpn: u64) -> u64 {
        let n = self.mappings.len();
        let records = if self.mappings.contains_key(&vpn) {
            0
        } else {
            record_units(n + 1) - record_units(n)
        };
        let regions = region_keys(vpn)
            .iter()
            .filter(|k| self.regions.binary_search(k).is_err())
            .count() as u64;
        records + regions
    }

    /// Makes room to note the regions of one more MAP (prepare phase); false if memory is short.
    pub fn reserve_regions(&mut self) -> bool {
        self.regions.try_reserve(3).is_ok()
    }

    /// Notes a MAP at `vpn` that cost `cost` units (after `reserve_regions`: no allocation).
    pub fn mapped(&mut self, vpn: u64, cost: u64) {
        for k in region_keys(vpn) {
            if let Err(i) = self.regions.binary_search(&k) {
                self.regions.insert(i, k);
            }
        }
        self.charged += cost;
    }

    /// The units an UNMAP gives back: the records' unit it empties, if any.
    pub fn unmap_refund(&self) -> u64 {
        let n = self.mappings.len();
        record_units(n) - record_units(n.saturating_sub(1))
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
///
/// Invariant: `awaiting_ack` and `fired_again` are false while the line is unbound, and
/// `fired_again` is set only while `awaiting_ack` is.
#[derive(Clone, Copy, Debug, Default)]
pub struct IrqLine {
    /// The bound endpoint.
    pub bound: Option<Cap>,
    /// An `IRQ_FIRED` of the line was posted and its driver has not ACKed it yet: the line
    /// is not posted again until then (a level-triggered line is masked meanwhile).
    pub awaiting_ack: bool,
    /// The line fired again while awaiting its ACK (edge-triggered lines are not masked):
    /// the ACK makes it pending again, so that interrupt is posted after all.
    pub fired_again: bool,
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

    #[test]
    fn a_reverse_map_prunes_only_stale_entries_and_reports_them() {
        let space = |i| ObjId {
            index: i,
            generation: 1,
        };
        let mut r = ReverseMap::default();
        for (s, v) in [(1, 10), (2, 20), (1, 11)] {
            assert!(r.reserve_one());
            r.insert(space(s), v);
        }
        r.remove(space(1), 10);
        assert!(!r.contains(space(1), 10));
        let mut dropped = Vec::new();
        r.prune(|s| s == space(2), |s, v| dropped.push((s, v)));
        assert_eq!(dropped, vec![(space(2), 20)]);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(space(1), 11)]);
    }
}
