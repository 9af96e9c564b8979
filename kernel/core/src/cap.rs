//! Capabilities: (type, object, rights, badge), and the object names they hold.
//!
//! # Invariants
//! - A capability names an object by (table index, generation). Destroying an object bumps its
//!   slot's generation, so every capability to it stops matching and acts as Null (seed 001,
//!   section 6.2) without the kernel having to find and clear the copies.
//! - `Cap::NULL` is the only Null capability value the kernel stores.
//! - Rights only shrink when a capability is copied (`restrict`).
//!
//! A resume capability names the caller process and carries that process's resume ticket in
//! its badge: the ticket advances when the reply is delivered, which kills every copy (one-shot).
//! A process capability carries its priority ceiling in the badge: the highest priority or
//! ceiling its holder may give the process (seL4's maximum controlled priority, on the
//! capability). Copies keep it; only `with_ceiling` lowers it.

use tessera_abi::{CapType, Rights};

use crate::run_queue::Priority;

/// The name of an object: its index in its table and the generation of that slot when the
/// object was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjId {
    /// Index in the object's table.
    pub index: u32,
    /// Generation of the slot at creation (odd: see `table.rs`).
    pub generation: u32,
}

impl ObjId {
    /// The name Null capabilities carry.
    pub const NONE: ObjId = ObjId {
        index: 0,
        generation: 0,
    };
}

/// A capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cap {
    /// Which kind of object, and so which table `obj` indexes.
    pub ty: CapType,
    /// The object.
    pub obj: ObjId,
    /// What the holder may do.
    pub rights: Rights,
    /// For an endpoint the badge shown to the receiver; for a resume capability the ticket;
    /// for a process capability the priority ceiling.
    pub badge: u64,
}

impl Cap {
    /// The Null capability.
    pub const NULL: Cap = Cap {
        ty: CapType::Null,
        obj: ObjId::NONE,
        rights: Rights::NONE,
        badge: 0,
    };

    /// A capability with every right to `obj` of type `ty` (a process capability with the
    /// highest ceiling: the kernel's own, for boot and tests).
    pub const fn new(ty: CapType, obj: ObjId) -> Cap {
        let badge = match ty {
            CapType::Process => Priority::HIGHEST.get() as u64,
            _ => 0,
        };
        Cap {
            ty,
            obj,
            rights: Rights::ALL,
            badge,
        }
    }

    /// A capability with every right to process `obj`, whose holder may give it priorities and
    /// ceilings up to `ceiling`.
    pub const fn process(obj: ObjId, ceiling: Priority) -> Cap {
        Cap {
            ty: CapType::Process,
            obj,
            rights: Rights::ALL,
            badge: ceiling.get() as u64,
        }
    }

    /// The priority ceiling of a process capability (the lowest priority for any other type).
    pub fn ceiling(&self) -> Priority {
        match self.ty {
            CapType::Process => u8::try_from(self.badge)
                .ok()
                .and_then(Priority::new)
                .unwrap_or(Priority::LOWEST),
            _ => Priority::LOWEST,
        }
    }

    /// A copy whose ceiling is at most `ceiling` (never raised).
    pub fn with_ceiling(self, ceiling: Priority) -> Cap {
        Cap {
            badge: self.ceiling().min(ceiling).get() as u64,
            ..self
        }
    }

    /// A start capability to process `obj` with `badge`.
    pub const fn endpoint(obj: ObjId, badge: u64) -> Cap {
        Cap {
            ty: CapType::Endpoint,
            obj,
            rights: Rights::ALL,
            badge,
        }
    }

    /// The one-shot capability to reply to process `obj`'s call number `ticket`.
    pub const fn resume(obj: ObjId, ticket: u64) -> Cap {
        Cap {
            ty: CapType::Resume,
            obj,
            rights: Rights::ALL,
            badge: ticket,
        }
    }

    /// A copy with only the rights also in `keep`.
    pub const fn restrict(self, keep: Rights) -> Cap {
        Cap {
            rights: self.rights.intersect(keep),
            ..self
        }
    }

    /// Whether this is the Null capability (by type; a stale capability is checked by the
    /// table that holds its object).
    pub fn is_null(&self) -> bool {
        self.ty == CapType::Null
    }
}

impl Default for Cap {
    fn default() -> Cap {
        Cap::NULL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrict_only_removes_rights() {
        let c = Cap::new(
            CapType::Page,
            ObjId {
                index: 3,
                generation: 1,
            },
        );
        let r = c.restrict(Rights::READ);
        assert_eq!(r.rights, Rights::READ);
        assert_eq!(r.restrict(Rights::ALL).rights, Rights::READ);
        assert!(Cap::NULL.is_null());
        assert!(!r.is_null());
    }

    #[test]
    fn a_ceiling_is_only_lowered() {
        let id = ObjId {
            index: 1,
            generation: 1,
        };
        let p = Cap::new(CapType::Process, id);
        assert_eq!(p.ceiling(), Priority::HIGHEST);
        let low = p.with_ceiling(Priority::new(5).unwrap());
        assert_eq!(low.ceiling().get(), 5);
        assert_eq!(low.with_ceiling(Priority::HIGHEST).ceiling().get(), 5);
        assert_eq!(
            low.restrict(Rights::READ).ceiling().get(),
            5,
            "copies keep it"
        );
        assert_eq!(
            Cap::process(id, Priority::new(3).unwrap()).ceiling().get(),
            3
        );
        assert_eq!(Cap::new(CapType::Page, id).ceiling(), Priority::LOWEST);
    }
}
