//! Error codes: the value of `rax` after an invocation. Zero means success.
//!
//! Every refusal the kernel can make has exactly one code here; the kernel maps each bad input
//! to one of them and never panics. Codes are never reused for a different meaning.

/// Why an invocation was refused. `rax` holds `0` on success and one of these otherwise.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// A capability index is beyond the process's capability space.
    InvalidCapIndex = 1,
    /// The invoked capability is Null, or names an object that has been destroyed (a
    /// capability to a destroyed object acts as Null), or is a resume capability already used.
    NullCapability = 2,
    /// A capability (invoked or passed) has the wrong type for this order.
    WrongType = 3,
    /// The capability lacks the rights this order needs.
    MissingRights = 4,
    /// The invoked object does not answer this order code.
    UnknownOrder = 5,
    /// A data word is out of range (a bad index, priority, page number, type code, ...).
    InvalidArgument = 6,
    /// The message-info word is malformed: reserved bits set, more than four data words or
    /// capabilities, or a capability count the invocation kind does not allow.
    BadMessage = 7,
    /// The bank's quota is exhausted, the kernel's table for the object type is full, or the
    /// platform has no physical frame left.
    OutOfQuota = 8,
    /// A user-memory address is not mapped or not accessible.
    BadAddress = 9,
    /// The target is in the wrong state for this order (e.g. resuming a process that is not
    /// halted, mapping over an existing mapping, binding a bound IRQ line).
    BadState = 10,
    /// The destroyed object is not one this bank created, or the ACKed IRQ line is bound to
    /// another process's endpoint.
    NotOwner = 11,
    /// An argument capability that must name a live object is Null or names a destroyed one.
    NullArgument = 12,
    /// The caller was halted while it waited for a reply: its resume capability was revoked
    /// and the CALL ends with this code when the process is resumed.
    Halted = 13,
    /// A non-blocking invocation ([`MessageInfo::NONBLOCKING`](crate::message::MessageInfo::NONBLOCKING))
    /// would have stalled: nothing was done, and a notification is registered (see there).
    WouldBlock = 14,
}

impl Error {
    /// Every error code, in numeric order.
    pub const ALL: [Error; 14] = [
        Error::InvalidCapIndex,
        Error::NullCapability,
        Error::WrongType,
        Error::MissingRights,
        Error::UnknownOrder,
        Error::InvalidArgument,
        Error::BadMessage,
        Error::OutOfQuota,
        Error::BadAddress,
        Error::BadState,
        Error::NotOwner,
        Error::NullArgument,
        Error::Halted,
        Error::WouldBlock,
    ];

    /// Decodes `rax`: `None` for `0` (success) and for values no error has.
    pub const fn from_raw(raw: u64) -> Option<Error> {
        if raw == 0 || raw > Self::ALL.len() as u64 {
            return None;
        }
        Some(Self::ALL[raw as usize - 1])
    }

    /// The value placed in `rax`.
    pub const fn raw(self) -> u64 {
        self as u64
    }

    /// Decodes `rax` as a result: `Ok(())` for `0`, `Err` for a known code, and
    /// [`Error::BadMessage`] for a value no code has (a kernel/user version mismatch).
    pub const fn result(raw: u64) -> Result<(), Error> {
        match Self::from_raw(raw) {
            Some(e) => Err(e),
            None if raw == 0 => Ok(()),
            None => Err(Error::BadMessage),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn every_code_round_trips() {
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(e.raw(), i as u64 + 1);
            assert_eq!(Error::from_raw(e.raw()), Some(*e));
        }
        assert_eq!(Error::from_raw(0), None);
        assert_eq!(Error::from_raw(Error::ALL.len() as u64 + 1), None);
        assert_eq!(Error::result(0), Ok(()));
        assert_eq!(Error::result(u64::MAX), Err(Error::BadMessage));
    }
}
