//! Capability types and rights.
//!
//! A capability is (type, object, rights, badge). The type says which object table the object
//! lives in and which order codes it answers ([`crate::order`]); rights restrict the orders; the
//! badge is chosen by the creator of an endpoint and shown to the receiver of every message that
//! comes through it. A capability to a destroyed object acts as [`CapType::Null`].

/// Slots in a process's capability space; slot 0 is permanently Null.
pub const CAP_SPACE_SLOTS: usize = 64;
/// Slots in a capability page.
pub const CAP_PAGE_SLOTS: usize = 64;

/// The type of a capability, as returned by the `GET_TYPE` order every capability answers.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CapType {
    /// Names nothing. Every invocation of it fails with `NullCapability`.
    Null = 0,
    /// A process: one thread of control (save area, capability space, address space, priority).
    Process = 1,
    /// A start capability to a process with a badge: invoking it sends the process a message.
    Endpoint = 2,
    /// A one-shot capability to reply to a CALL; consumed by the reply, Null afterwards.
    Resume = 3,
    /// A page of memory (one physical frame from the platform).
    Page = 4,
    /// An address space: the mapping records (virtual page -> page, rights).
    AddressSpace = 5,
    /// A page of capabilities: storage for capabilities outside a process.
    CapPage = 6,
    /// An interrupt line, which may be bound to an endpoint.
    IrqLine = 7,
    /// A bank: a memory quota from which objects are created and to which they return.
    Bank = 8,
    /// A range of I/O ports (x86 `in`/`out`), made by the kernel at boot: its holder can let
    /// one process use the ports directly from ring 3.
    IoPorts = 9,
    /// An alarm: armed with a deadline on the kernel's clock ([`crate::clock`]) and an
    /// endpoint, the kernel POSTs [`ALARM_FIRED`](crate::post::ALARM_FIRED) to it once the
    /// deadline has passed ([`crate::order::alarm`]).
    Alarm = 10,
}

impl CapType {
    /// Decodes a type code.
    pub const fn from_raw(raw: u64) -> Option<CapType> {
        match raw {
            0 => Some(CapType::Null),
            1 => Some(CapType::Process),
            2 => Some(CapType::Endpoint),
            3 => Some(CapType::Resume),
            4 => Some(CapType::Page),
            5 => Some(CapType::AddressSpace),
            6 => Some(CapType::CapPage),
            7 => Some(CapType::IrqLine),
            8 => Some(CapType::Bank),
            9 => Some(CapType::IoPorts),
            10 => Some(CapType::Alarm),
            _ => None,
        }
    }
}

/// Rights bits carried by a capability. Orders that only observe need [`Rights::READ`]; orders
/// that change the object need [`Rights::WRITE`]; mapping a page executable needs
/// [`Rights::EXEC`] on the page capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rights(u8);

impl Rights {
    /// No rights.
    pub const NONE: Rights = Rights(0);
    /// Observe the object.
    pub const READ: Rights = Rights(1);
    /// Change the object.
    pub const WRITE: Rights = Rights(2);
    /// Execute (page mappings only).
    pub const EXEC: Rights = Rights(4);
    /// Every right.
    pub const ALL: Rights = Rights(7);

    /// Decodes a rights word; `None` if bits beyond [`Rights::ALL`] are set.
    pub const fn from_raw(raw: u64) -> Option<Rights> {
        if raw & !(Self::ALL.0 as u64) != 0 {
            return None;
        }
        Some(Rights(raw as u8))
    }

    /// The rights as a word.
    pub const fn raw(self) -> u64 {
        self.0 as u64
    }

    /// Whether every right in `other` is present.
    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// The rights present in both.
    pub const fn intersect(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }

    /// The rights present in either.
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_rights_decode() {
        for raw in 0..11 {
            assert_eq!(CapType::from_raw(raw).map(|t| t as u64), Some(raw));
        }
        assert_eq!(CapType::from_raw(11), None);
        assert_eq!(Rights::from_raw(8), None);
        assert!(Rights::ALL.contains(Rights::READ.union(Rights::WRITE)));
        assert!(!Rights::READ.contains(Rights::WRITE));
    }
}
