//! The kernel trace: the record every event is written as, the event kinds, and the dump the
//! kernel writes to the second serial port (COM2) when tracing stops.
//!
//! # Record
//! Four little-endian words, 32 bytes: `[tsc, head, a, b]`. `head` packs the [`Kind`] in bits
//! 0..=7, the CPU in bits 8..=15 and a process id (the object-table index `ps` shows, or
//! [`NO_PROCESS`]) in bits 16..=47. `a` and `b` are the kind's arguments, listed with it.
//! Timestamps are the writing CPU's TSC (guest instructions under `-icount shift=0`); one
//! CPU's records are in the order it wrote them.
//!
//! # Dump (COM2, written at `trace stop`)
//! [`DUMP_MAGIC`], the TSC's ticks per second, the CPU count, then per CPU: its number, the records it kept, the records it
//! lost (its ring was full), then the kept records; then [`NAMES_MAGIC`], the number of names,
//! and per name the process id and 16 bytes of name (NUL-padded); then [`END_MAGIC`]. Every
//! number is a little-endian word.
//!
//! # User events
//! [`order::process::TRACE_EVENT`](crate::order::process::TRACE_EVENT) records
//! [`Kind::User`] for the invoked process; code [`USER_NAME`] names it instead (kept even while
//! tracing is off, so a dump can say which program each process runs).

/// Word 0 of a dump.
pub const DUMP_MAGIC: u64 = u64::from_le_bytes(*b"TSRTRAC1");
/// The word before the name table.
pub const NAMES_MAGIC: u64 = u64::from_le_bytes(*b"TSRNAMES");
/// The last word of a dump.
pub const END_MAGIC: u64 = u64::from_le_bytes(*b"TSRTREND");
/// The process id of an event that has none (the CPU was idle).
pub const NO_PROCESS: u32 = 0xffff_ffff;
/// Bytes of a record.
pub const RECORD_BYTES: usize = 32;
/// Bytes of a process name in the dump.
pub const NAME_BYTES: usize = 16;
/// User event code that names the invoked process: `d1`, `d2` hold its 16 bytes.
pub const USER_NAME: u64 = 0;

/// What happened. The process id and the arguments `a`, `b` are listed per kind.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A system call entered the kernel. Process: the caller; `a` = its
    /// [`MessageInfo`](crate::MessageInfo) word (kind, order), `b` = the invoked capability index.
    Syscall = 1,
    /// The kernel returned to user mode. Process: who runs; `a` = `rax` (0 or an error code
    /// when it returns from a system call).
    UserEntry = 2,
    /// This CPU switched processes. Process: the one that runs now ([`NO_PROCESS`]: idle);
    /// `a` = the one before ([`NO_PROCESS`]: idle), `b` = why ([`switch_why`]).
    Switch = 3,
    /// An interrupt was taken. `a` = the vector.
    IrqNoted = 4,
    /// A pending IRQ line is posted to its endpoint. Process: the endpoint's; `a` = the line.
    IrqPosted = 5,
    /// A message was delivered into a process. Process: the receiver; `a` = the
    /// [`MessageInfo`](crate::MessageInfo) word it received (kind, order), `b` = for a CALL, the
    /// caller (whose resume capability it carries), else [`NO_PROCESS`].
    Delivered = 6,
    /// A POST was queued on a process not available. Process: the target; `a` = the order,
    /// `b` = the sender ([`NO_PROCESS`] for an IRQ line).
    PostQueued = 7,
    /// A caller stalled. Process: the caller; `a` = the queue's process ([`NO_PROCESS`]: the
    /// post pool).
    Stall = 8,
    /// A stalled caller is made ready to re-run its call. Process: the woken.
    Wake = 9,
    /// A sender queue passed to its next owner. Process: the queue's; `a` = the new owner
    /// ([`NO_PROCESS`] for a queued POST, delivered at once).
    OwnerPassed = 10,
    /// A process was halted. Process: the halted one.
    Halt = 11,
    /// A halted process was resumed. Process: the resumed one.
    Resume = 12,
    /// A process faulted in user mode. Process: the faulting one; `a` = the fault kind
    /// (vector), `b` = 1 if it went to its keeper, 0 if it was halted.
    Fault = 13,
    /// A user event. Process: the invoked one; `a`, `b` = the program's arguments, with its
    /// code in bits 48..=63 of the head word.
    User = 14,
    /// An alarm's deadline passed and the kernel posted it. Process: the endpoint's ([`NO_PROCESS`]
    /// if it is destroyed); `a` = the alarm's table index, `b` = 1 if the POST was delivered or
    /// queued, 2 if it merged into the alarm's POST still queued, 0 if nobody received it.
    AlarmFired = 15,
    /// The invocation path decoded a system call (after [`Kind::Syscall`], once per run of the
    /// path). Process: the caller; `a` = the type of the capability invoked
    /// ([`CapType`](crate::CapType) code, 0 if it is Null or dead), `b` = the order.
    Invoked = 16,
    /// A non-blocking invocation found its target not ready and returned `WouldBlock`.
    /// Process: the caller; `a` = the process it watches ([`NO_PROCESS`]: its own post
    /// allotment), `b` = 1 if this call registered a notification request.
    WouldBlock = 17,
    /// A notification request fired. Process: the requester; `a` = the process its endpoint
    /// reaches, `b` = 1 if the notification was delivered or queued, 0 if it was dropped (the
    /// requester was halted or destroyed since, or the endpoint is gone).
    Notified = 18,
}

impl Kind {
    /// Every kind, in code order.
    pub const ALL: [Kind; 18] = [
        Kind::Syscall,
        Kind::UserEntry,
        Kind::Switch,
        Kind::IrqNoted,
        Kind::IrqPosted,
        Kind::Delivered,
        Kind::PostQueued,
        Kind::Stall,
        Kind::Wake,
        Kind::OwnerPassed,
        Kind::Halt,
        Kind::Resume,
        Kind::Fault,
        Kind::User,
        Kind::AlarmFired,
        Kind::Invoked,
        Kind::WouldBlock,
        Kind::Notified,
    ];

    /// Decodes a kind code.
    pub const fn from_raw(raw: u8) -> Option<Kind> {
        if raw == 0 || raw as usize > Self::ALL.len() {
            None
        } else {
            Some(Self::ALL[raw as usize - 1])
        }
    }
}

/// Why a CPU switched processes ([`Kind::Switch`]'s `b`).
pub mod switch_why {
    /// The process before made a system call and no longer runs (it waits, stalled or yielded).
    pub const INVOKED: u64 = 0;
    /// The process before was interrupted and preempted.
    pub const PREEMPTED: u64 = 1;
    /// The process before faulted.
    pub const FAULTED: u64 = 2;
    /// The CPU was idle.
    pub const FROM_IDLE: u64 = 3;
}

/// One event, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The TSC when it was written.
    pub tsc: u64,
    /// What happened.
    pub kind: Kind,
    /// The CPU it happened on.
    pub cpu: u8,
    /// The process it concerns ([`NO_PROCESS`]: none).
    pub process: u32,
    /// A user event's code (0 for every other kind).
    pub code: u16,
    /// First argument.
    pub a: u64,
    /// Second argument.
    pub b: u64,
}

impl Record {
    /// The four words of the record.
    pub const fn pack(&self) -> [u64; 4] {
        let head = self.kind as u64
            | (self.cpu as u64) << 8
            | (self.process as u64) << 16
            | (self.code as u64) << 48;
        [self.tsc, head, self.a, self.b]
    }

    /// Decodes four words; `None` for an unknown kind (or a slot never written).
    pub const fn unpack(w: [u64; 4]) -> Option<Record> {
        let Some(kind) = Kind::from_raw(w[1] as u8) else {
            return None;
        };
        Some(Record {
            tsc: w[0],
            kind,
            cpu: (w[1] >> 8) as u8,
            process: (w[1] >> 16) as u32,
            code: (w[1] >> 48) as u16,
            a: w[2],
            b: w[3],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_unknown_kinds_are_refused() {
        for kind in Kind::ALL {
            let r = Record {
                tsc: 7,
                kind,
                cpu: 3,
                process: NO_PROCESS,
                code: 0xbeef,
                a: u64::MAX,
                b: 1,
            };
            assert_eq!(Record::unpack(r.pack()), Some(r));
        }
        assert_eq!(Record::unpack([0; 4]), None);
        assert_eq!(Record::unpack([0, Kind::ALL.len() as u64 + 1, 0, 0]), None);
    }
}
