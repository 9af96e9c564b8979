//! Order codes: what each kernel object answers.
//!
//! Kernel objects answer invocations as if they were servers. A kernel object is always
//! available, so CALL, SEND and POST to one all run the order at once and return its result in
//! the reply registers (a POST carries only `d0` and no capabilities). Data words are read from
//! the message (`d0..d3`), capabilities from the sent capability indices (`c0..c3`), and a
//! returned capability is written into the caller's first receive slot (`CapWord::recv[0]`;
//! slot 0 discards it). A word the order does not use is ignored. Every order can fail with
//! `NullCapability` (the invoked capability is Null or its object is destroyed),
//! `UnknownOrder`, `MissingRights`, `BadMessage` and `InvalidCapIndex`; the other errors each
//! order can return are listed with it.
//!
//! Endpoint capabilities carry the server's own order codes, which the kernel does not read.
//! CALL or SEND through an endpoint to the caller itself fails with `BadState` (it could never
//! be received); a POST to itself is queued until it next waits.
//!
//! A resume capability answers no order code: RETURN or SEND through it delivers the message as
//! the reply to the CALL that made it, once (afterwards SEND through any copy fails with
//! `NullCapability` and RETURN drops the reply); CALL or POST through it fails with
//! `WrongType`. A RETURN must invoke a resume capability or Null; RETURN through anything else
//! fails with `WrongType` and the caller does not wait.

/// Every live capability answers `GET_TYPE`: `d0` out = its [`CapType`](crate::CapType) code.
/// No rights needed.
pub const GET_TYPE: u32 = 0;

/// Orders of a [`Bank`](crate::CapType::Bank) capability.
pub mod bank {
    /// `d0` = type code of Process, Page, AddressSpace, CapPage, Alarm or Bank; for a Bank, `d1` = the
    /// child's quota, taken from this bank. Every object costs one unit of quota plus, for a
    /// bank, its quota. Returns the new capability (all rights). Needs WRITE.
    /// Errors: `InvalidArgument` (type not creatable), `OutOfQuota`.
    pub const CREATE: u32 = 1;
    /// `c0` = an object this bank created. Destroys it and returns its quota: every capability
    /// to it now acts as Null. A bank can be destroyed only when it holds no objects. Needs
    /// WRITE. Errors: `NullArgument`, `WrongType` (Null, Endpoint, Resume, IrqLine, IoPorts),
    /// `NotOwner`, `BadState` (a bank that still holds objects).
    pub const DESTROY: u32 = 2;
    /// `d0` out = unused quota units, `d1` out = live objects. Needs READ.
    pub const AVAILABLE: u32 = 3;
}

/// Orders of a [`Process`](crate::CapType::Process) capability.
pub mod process {
    /// Stops the process wherever it is: out of any queue, off its CPU. A process halted in a
    /// closed wait loses its resume capability and its CALL ends with `Halted`. Needs WRITE.
    /// Errors: `BadState` (already halted).
    pub const HALT: u32 = 1;
    /// Resumes a halted process where it stopped (a stalled invocation restarts; an open wait
    /// continues; after SET_ENTRY, or a halt at or during a fault, it runs from its registers:
    /// the new entry, or the faulting instruction). Needs WRITE. Errors: `BadState` (not
    /// halted).
    pub const RESUME: u32 = 2;
    /// `d0` = priority, below [`PRIORITY_LEVELS`](crate::process::PRIORITY_LEVELS), and at most
    /// both the invoked capability's ceiling and the caller's own (see [`SET_CEILING`]).
    /// Needs WRITE. Errors: `InvalidArgument` (no such priority), `MissingRights` (above a
    /// ceiling).
    pub const SET_PRIORITY: u32 = 3;
    /// Out: a [`ProcessInfo`](crate::ProcessInfo) in `d0..d3`. Needs READ.
    pub const INFO: u32 = 4;
    /// `d0` = instruction pointer, `d1` = stack pointer, `d2` = first argument register (`rdi`).
    /// The process must be halted and off every CPU (a process halted while running stops at
    /// its CPU's next kernel entry). RESUME then starts it fresh at the new entry: whatever it
    /// was halted in (an open wait, a stalled or re-run invocation, a closed wait, a fault
    /// message) is forgotten. Needs WRITE. Errors: `BadState`.
    pub const SET_ENTRY: u32 = 5;
    /// `c0` = the address space the process runs in. Needs WRITE.
    /// Errors: `NullArgument`, `WrongType`.
    pub const SET_SPACE: u32 = 6;
    /// `d0` = slot, `c0` = capability copied into the process's capability space, `d1` (if
    /// sent) = rights to keep (the copy gets the intersection). Needs WRITE.
    /// Errors: `InvalidArgument` (slot 0, slot out of range, bad rights word).
    pub const SET_CAP: u32 = 7;
    /// `d0` = slot. Returns a copy of that capability. Needs READ.
    /// Errors: `InvalidArgument`.
    pub const GET_CAP: u32 = 8;
    /// `d0` = badge. Returns an Endpoint (start) capability to the process. Needs WRITE.
    pub const MAKE_ENDPOINT: u32 = 9;
    /// The process, which must be the caller, gives up the rest of its quantum: at this kernel
    /// exit it goes to the tail of its priority level's run queue, and the next ready process
    /// of that level (or a higher one) runs. Needs WRITE. Errors: `BadState` (not the caller).
    pub const YIELD: u32 = 10;
    /// `c0` = an Endpoint: the process's faults become CALLs through it (the protocol and
    /// message are in [`crate::fault`]); Null (or a capability to a destroyed process) clears
    /// it. Needs WRITE. Errors: `WrongType`.
    pub const SET_FAULT_ENDPOINT: u32 = 11;
    /// `d0` = a first register ([`Reg`](crate::fault::Reg) number). Out: it and the three
    /// after it in `d0..d3` (0 past the last). The process must not run: halted and off every
    /// CPU, or faulted (its fault message outstanding). Needs READ.
    /// Errors: `InvalidArgument` (no such register), `BadState`.
    pub const READ_REGS: u32 = 12;
    /// `d0` = a first register, `d1..` = values for it and the registers after it (one to
    /// three: as many words as are sent after `d0`). The same states as READ_REGS. Needs
    /// WRITE. Errors: `InvalidArgument` (no value, or a register past the last), `BadState`.
    pub const WRITE_REGS: u32 = 13;
    /// `d0` = ceiling: the highest priority the process may give itself or any process, and
    /// the ceiling of every process capability it creates; at most both the invoked
    /// capability's ceiling and the caller's own. Returns a copy of the invoked capability
    /// whose ceiling is `d0` (a capability's ceiling is never raised). The process's priority
    /// is left as it is. A process created from a bank gets its creator's ceiling, on the
    /// object and on the capability CREATE returns. Needs WRITE.
    /// Errors: `InvalidArgument` (no such priority), `MissingRights` (above a ceiling).
    pub const SET_CEILING: u32 = 14;
    /// `d0` = a user event code (below 2^16), `d1`, `d2` = its arguments: recorded in the
    /// kernel trace as a [`Kind::User`](crate::trace::Kind::User) event of the process (code
    /// [`USER_NAME`](crate::trace::USER_NAME): `d1`, `d2` are the process's name, kept for
    /// the trace even while it is off). Needs WRITE. Errors: `InvalidArgument` (code too
    /// large), `BadState` (the kernel is built without tracing).
    pub const TRACE_EVENT: u32 = 15;
    /// `d0` = 1 starts kernel tracing (every CPU's ring emptied), 0 stops it and writes the
    /// rings to the trace port ([`crate::trace`]). Tracing is a debugging facility of the whole
    /// machine: any holder of a process capability with WRITE may switch it. `d0` out = the
    /// events recorded since the start (on stop). Needs WRITE. Errors: `InvalidArgument`,
    /// `BadState` (the kernel is built without tracing).
    pub const TRACE_SWITCH: u32 = 16;

    /// `d0` = the CPU the process may run on (a CPU number below the count of CPUs online), or
    /// [`ANY_CPU`]: it may run on any. A pinned process joins only that CPU's run queue, no
    /// other CPU takes it from there, and one running elsewhere moves at that CPU's next
    /// kernel exit. Several processes sharing an address space, each pinned to its own CPU,
    /// are the virtual processors of one task (seed 000). `ps` shows it
    /// ([`ProcessInfo::affinity`](crate::ProcessInfo::affinity)). Needs WRITE.
    /// Errors: `InvalidArgument` (no such CPU online).
    pub const SET_AFFINITY: u32 = 17;

    /// `c0` = an Endpoint, `d0` = a word: the notifications of the process's non-blocking
    /// invocations that get `WouldBlock` are POSTed there
    /// ([`NOTIFIED`](crate::post::NOTIFIED) with this word; see
    /// [`MessageInfo`](crate::message::MessageInfo)). Null (or a dead endpoint) clears it:
    /// `WouldBlock` then registers nothing. A request keeps the endpoint and word it was
    /// registered with. Needs WRITE. Errors: `WrongType`.
    pub const SET_NOTIFY: u32 = 18;

    /// [`SET_AFFINITY`]'s `d0` for "any CPU".
    pub const ANY_CPU: u64 = u64::MAX;
}

/// Orders of an [`Alarm`](crate::CapType::Alarm) capability (created from a bank, one unit).
///
/// An armed alarm waits in the alarm queue of the CPU that armed it. At the first kernel exit
/// or idle wake-up of that CPU at or after its deadline (on the clock of [`crate::clock`]) the
/// kernel POSTs [`ALARM_FIRED`](crate::post::ALARM_FIRED) with the alarm's word to its
/// endpoint, once; a periodic alarm is then due again one period after its previous deadline
/// (periods missed meanwhile are skipped, not posted). An idle CPU programs its timer for its
/// nearest deadline. Destroying the alarm cancels it; a recipient destroyed before the deadline
/// gets nothing (and a one-shot alarm is then disarmed).
pub mod alarm {
    /// `d0` = deadline in nanoseconds since boot (one already passed fires at the next exit),
    /// `d1` = period in nanoseconds (0: one-shot), `d2` = the word the POST carries, `c0` =
    /// the Endpoint to POST to. Replaces any earlier arming. Needs WRITE.
    /// Errors: `NullArgument` (no endpoint, or its process is destroyed), `WrongType`,
    /// `InvalidArgument` (deadline above [`MAX_DEADLINE`], or a period below [`MIN_PERIOD`]
    /// or above `MAX_DEADLINE`).
    pub const ARM: u32 = 1;
    /// Disarms the alarm. `d0` out = 1 if it was armed, else 0. A POST it made already stays
    /// queued. Needs WRITE.
    pub const CANCEL: u32 = 2;
    /// `d0` out = 1 if armed, `d1` out = its deadline, `d2` out = its period. Needs READ.
    pub const STATUS: u32 = 3;

    /// The latest deadline (2^62 ns, about 146 years).
    pub const MAX_DEADLINE: u64 = 1 << 62;
    /// The shortest period (100 µs): shorter ones would keep a CPU in the kernel.
    pub const MIN_PERIOD: u64 = 100_000;
}

/// Orders of a [`Page`](crate::CapType::Page) capability.
pub mod page {
    /// Zeroes the page. Needs WRITE.
    pub const ZERO: u32 = 1;
    /// `d0` = word offset (below 512). `d0` out = the word. Needs READ.
    /// Errors: `InvalidArgument`.
    pub const READ_WORD: u32 = 2;
    /// `d0` = word offset (below 512), `d1` = value. Needs WRITE. Errors: `InvalidArgument`.
    pub const WRITE_WORD: u32 = 3;
}

/// Orders of an [`AddressSpace`](crate::CapType::AddressSpace) capability.
pub mod space {
    /// `d0` = virtual page number (below [`USER_PAGES`]), `d1` = rights (READ, WRITE, EXEC),
    /// `c0` = the page, whose capability must hold those rights. Needs WRITE.
    /// Errors: `InvalidArgument`, `NullArgument`, `WrongType`, `MissingRights` (page cap),
    /// `BadState` (already mapped), `OutOfQuota` (the space's mapping records are full, the
    /// page is mapped in 64 places already, or the space's bank cannot pay: a unit per 64
    /// records, and one for each new 2 MiB, 1 GiB and 512 GiB region the space maps into,
    /// kept until the space is destroyed).
    pub const MAP: u32 = 1;
    /// `d0` = virtual page number. Gives back the records' unit it empties. Needs WRITE.
    /// Errors: `InvalidArgument`, `BadState`.
    pub const UNMAP: u32 = 2;
    /// `d0` = virtual page number. `d0` out = the mapping's rights, 0 if unmapped (or the page
    /// was destroyed). Needs READ. Errors: `InvalidArgument`.
    pub const LOOKUP: u32 = 3;

    /// Virtual pages in the user half of a 48-bit address space.
    pub const USER_PAGES: u64 = 1 << 35;
    /// Mapping records one address space can hold: 256 MiB of 4 KiB pages, room for a task of
    /// 100,000 chores (`user/tasks`). Each record is paid for by the space's bank (see MAP).
    pub const MAX_MAPPINGS: usize = 1 << 16;
}

/// Orders of a [`CapPage`](crate::CapType::CapPage) capability.
pub mod cap_page {
    /// `d0` = slot (below [`CAP_PAGE_SLOTS`](crate::cap::CAP_PAGE_SLOTS)), `c0` = capability to
    /// store. Needs WRITE. Errors: `InvalidArgument`.
    pub const STORE: u32 = 1;
    /// `d0` = slot. Returns a copy of the stored capability. Needs READ.
    /// Errors: `InvalidArgument`.
    pub const LOAD: u32 = 2;
}

/// Orders of an [`IrqLine`](crate::CapType::IrqLine) capability.
///
/// The protocol of a driver (as seL4's IRQHandler Ack): it receives
/// [`IRQ_FIRED`](crate::post::IRQ_FIRED), drains its device, then invokes [`ACK`](irq::ACK).
/// Between the two the line is not posted again: a level-triggered line is masked at the
/// interrupt controller from its interrupt until the ACK, and an edge-triggered line (never
/// masked while bound) that fires meanwhile is posted once right after the ACK, so an edge
/// that came after the drain is not lost.
pub mod irq {
    /// `c0` = an Endpoint: each interrupt on the line is POSTed to it with order
    /// [`IRQ_FIRED`](crate::post::IRQ_FIRED); the line is unmasked and awaits no ACK. Needs
    /// WRITE. Errors: `NullArgument`, `WrongType`, `BadState` (already bound).
    pub const BIND: u32 = 1;
    /// Unbinds the line and masks it. Needs WRITE. Errors: `BadState` (not bound).
    pub const UNBIND: u32 = 2;
    /// The driver has drained its device after an `IRQ_FIRED`: the line may interrupt again.
    /// Needs WRITE. Errors: `BadState` (the line is not bound, or no `IRQ_FIRED` of it awaits
    /// an ACK: none since the last ACK or the BIND), `NotOwner` (the line is bound to an
    /// endpoint of another process than the caller).
    pub const ACK: u32 = 3;
}

/// Orders of an [`IoPorts`](crate::CapType::IoPorts) capability. Which ports a range holds is
/// the platform's to say (`crate::boot::io_ports` for x86_64); the kernel makes these
/// capabilities at boot only.
pub mod io_ports {
    /// `c0` = a process: from now on it may use the range's ports with `in`/`out` in ring 3
    /// (one range per process; a later grant replaces an earlier one). Needs WRITE on both.
    /// Errors: `NullArgument`, `WrongType` (not a process), `MissingRights`.
    pub const GRANT: u32 = 1;
    /// `c0` = a process: it may no longer use any I/O port. Needs WRITE on both.
    /// Errors: `NullArgument`, `WrongType`, `MissingRights`.
    pub const REVOKE: u32 = 2;
}
