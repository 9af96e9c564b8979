//! Pages, address spaces and capability pages: the memory objects.
//!
//! # Invariants
//! - A page owns one platform frame from creation to destruction.
//! - An address space's mapping records are the truth; hardware page tables are a cache derived
//!   from them. A record whose page has been destroyed counts as absent (its `ObjId` no longer
//!   matches), so destroying a page needs no search of the spaces that map it.
//! - At most `MAX_MAPPINGS` records per space.

use alloc::collections::BTreeMap;
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

/// An address space.
#[derive(Debug)]
pub struct Space {
    /// Virtual page number to mapping.
    pub mappings: BTreeMap<u64, Mapping>,
    /// The bank it came from.
    pub bank: ObjId,
}

impl Space {
    /// An empty space.
    pub fn new(bank: ObjId) -> Space {
        Space { mappings: BTreeMap::new(), bank }
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
        CapPage { caps: [Cap::NULL; CAP_PAGE_SLOTS], bank }
    }
}

/// An interrupt line and the endpoint its interrupts are posted to.
#[derive(Clone, Copy, Debug, Default)]
pub struct IrqLine {
    /// The bound endpoint.
    pub bound: Option<Cap>,
}
