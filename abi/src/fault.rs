//! Fault keepers: what a process's fault endpoint receives, and the register numbering of the
//! `READ_REGS` / `WRITE_REGS` process orders.
//!
//! # The protocol
//! A process may name a fault endpoint (`order::process::SET_FAULT_ENDPOINT`). When it takes a
//! CPU exception in user mode that the kernel does not resolve itself (a page fault with no
//! mapping, #GP, #UD, #DE, ...), its registers at the fault are kept and the kernel makes, on its
//! behalf, a CALL through that endpoint: the ordinary CALL path, so the message waits on the
//! keeper's sender queue in FIFO order like any other caller's while the keeper is busy. The
//! keeper receives:
//!
//! | word | meaning |
//! |---|---|
//! | badge | the fault endpoint's badge |
//! | order | [`FAULT`] (a CALL, no capabilities, four data words) |
//! | `d0` | the kind: the CPU exception vector ([`kind`]) |
//! | `d1` | the CPU's error code (0 for exceptions that push none) |
//! | `d2` | the faulting address (CR2) for a page fault, else 0 |
//! | `d3` | the instruction pointer of the faulting instruction |
//!
//! and a resume capability in its resume receive slot. The faulted process is in a closed wait
//! (`ProcessState::Waiting`, or `Stalled` while the message waits for the keeper). The keeper
//! may then read and write its registers (`READ_REGS` / `WRITE_REGS`, numbered by [`Reg`]),
//! fix the cause (map a page, ...), and reply through the resume capability (RETURN or SEND):
//! the process goes on with the registers as they now are, restarting the faulting
//! instruction unless the keeper moved `Rip`. A reply's data words and capabilities are not
//! written into the faulted process: its registers are its own. Or the keeper halts it.
//!
//! # Hostile and odd cases
//! - No fault endpoint, or one whose process is destroyed (before or while the message waits),
//!   or one that leads back to the faulting process itself, or a stall refused for want of
//!   memory: the process is halted with its registers at the fault kept (the kernel reports it
//!   on the console when it sees this at the fault), and RESUME re-runs the faulting instruction.
//! - HALT of a process whose fault message is outstanding (queued, or delivered and not yet
//!   answered) cancels the message (its resume capability dies); RESUME then re-runs the
//!   faulting instruction, faulting again if nothing was fixed. SET_ENTRY cancels it too.
//! - A keeper that never replies leaves the process waiting; HALT, RESUME and SET_ENTRY still
//!   work on it. A keeper that faults sends its own fault to its own keeper (or is halted).
//! - A keeper is a process like any other: halted before its READ_REGS, WRITE_REGS, HALT or
//!   reply ran, it re-runs that call when resumed. By then its client may have been resumed
//!   and have faulted again, so a keeper that can be halted should check the fault message it
//!   acts on is still the current one (READ_REGS of `Rip` against `d3`) before it writes.

/// The order code of a fault message.
pub const FAULT: u32 = 0xfa17;

/// Fault kinds: the x86_64 exception vectors a process can raise in ring 3.
pub mod kind {
    /// #DE: divide error (division by zero, quotient overflow).
    pub const DIVIDE_ERROR: u64 = 0;
    /// #DB: debug exception (`int1`).
    pub const DEBUG: u64 = 1;
    /// #BP: breakpoint. `int3` in ring 3 arrives as [`GENERAL_PROTECTION`] with an error code
    /// naming IDT entry 3 (bit 1 set), because the kernel's gate for it is not open to ring 3.
    pub const BREAKPOINT: u64 = 3;
    /// #OF: `into` with OF set.
    pub const OVERFLOW: u64 = 4;
    /// #BR: bound range exceeded.
    pub const BOUND_RANGE: u64 = 5;
    /// #UD: invalid opcode (`ud2`).
    pub const INVALID_OPCODE: u64 = 6;
    /// #NM: device not available.
    pub const DEVICE_NOT_AVAILABLE: u64 = 7;
    /// #SS: stack-segment fault.
    pub const STACK_SEGMENT: u64 = 12;
    /// #GP: general protection (privileged instruction, non-canonical address, an I/O port
    /// not granted, a jump outside the user half, `int n` through a closed gate).
    pub const GENERAL_PROTECTION: u64 = 13;
    /// #PF: page fault; the error code's bits are [`super::page_fault`].
    pub const PAGE_FAULT: u64 = 14;
    /// #MF: x87 floating-point error.
    pub const X87: u64 = 16;
    /// #AC: alignment check.
    pub const ALIGNMENT_CHECK: u64 = 17;
    /// #XM: SIMD floating-point exception.
    pub const SIMD: u64 = 19;
}

/// Bits of a page fault's error code (`d1` when the kind is [`kind::PAGE_FAULT`]).
pub mod page_fault {
    /// The page was present (a protection violation); clear: not mapped.
    pub const PRESENT: u64 = 1;
    /// The access was a write.
    pub const WRITE: u64 = 2;
    /// The access came from user mode (always set for a fault message).
    pub const USER: u64 = 4;
    /// The access was an instruction fetch.
    pub const FETCH: u64 = 16;
}

/// A fault message as the keeper reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The exception vector ([`kind`]).
    pub kind: u64,
    /// The CPU's error code.
    pub error: u64,
    /// The faulting address of a page fault, else 0.
    pub addr: u64,
    /// The instruction pointer of the faulting instruction.
    pub rip: u64,
}

impl Fault {
    /// The data words of the message.
    pub const fn pack(self) -> [u64; 4] {
        [self.kind, self.error, self.addr, self.rip]
    }

    /// Reads a received message: `None` unless its order is [`FAULT`].
    pub const fn unpack(order: u32, data: [u64; 4]) -> Option<Fault> {
        if order != FAULT {
            return None;
        }
        Some(Fault {
            kind: data[0],
            error: data[1],
            addr: data[2],
            rip: data[3],
        })
    }
}

/// A user register as `READ_REGS` / `WRITE_REGS` number it (x86_64).
///
/// `READ_REGS` with `d0` = a first register returns it and the three after it in `d0..d3`
/// (a word past [`Reg::Rflags`] reads 0); `WRITE_REGS` with `d0` = a first register writes
/// `d1..` into it and the ones after it (one to three registers, as many as the data words
/// sent after `d0`); reading all eighteen takes five READ_REGS.
/// RFLAGS is kept to the flags user code controls when the process runs; an RIP outside the
/// user half makes the process fault (#GP) when it next runs, not the kernel.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reg {
    /// `rax`
    Rax = 0,
    /// `rbx`
    Rbx = 1,
    /// `rcx`
    Rcx = 2,
    /// `rdx`
    Rdx = 3,
    /// `rsi`
    Rsi = 4,
    /// `rdi`
    Rdi = 5,
    /// `rbp`
    Rbp = 6,
    /// `r8`
    R8 = 7,
    /// `r9`
    R9 = 8,
    /// `r10`
    R10 = 9,
    /// `r11`
    R11 = 10,
    /// `r12`
    R12 = 11,
    /// `r13`
    R13 = 12,
    /// `r14`
    R14 = 13,
    /// `r15`
    R15 = 14,
    /// The instruction pointer.
    Rip = 15,
    /// The stack pointer.
    Rsp = 16,
    /// The flags.
    Rflags = 17,
}

impl Reg {
    /// How many registers there are.
    pub const COUNT: u64 = 18;
    /// Every register, by number.
    pub const ALL: [Reg; Reg::COUNT as usize] = [
        Reg::Rax,
        Reg::Rbx,
        Reg::Rcx,
        Reg::Rdx,
        Reg::Rsi,
        Reg::Rdi,
        Reg::Rbp,
        Reg::R8,
        Reg::R9,
        Reg::R10,
        Reg::R11,
        Reg::R12,
        Reg::R13,
        Reg::R14,
        Reg::R15,
        Reg::Rip,
        Reg::Rsp,
        Reg::Rflags,
    ];

    /// Decodes a register number.
    pub const fn from_raw(raw: u64) -> Option<Reg> {
        if raw >= Reg::COUNT {
            return None;
        }
        Some(Reg::ALL[raw as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_round_trip() {
        for (i, r) in Reg::ALL.iter().enumerate() {
            assert_eq!(*r as u64, i as u64);
            assert_eq!(Reg::from_raw(i as u64), Some(*r));
        }
        assert_eq!(Reg::from_raw(Reg::COUNT), None);
    }

    #[test]
    fn fault_round_trips() {
        let f = Fault {
            kind: kind::PAGE_FAULT,
            error: page_fault::USER | page_fault::WRITE,
            addr: 0x2000_0000,
            rip: 0x100_0040,
        };
        assert_eq!(Fault::unpack(FAULT, f.pack()), Some(f));
        assert_eq!(Fault::unpack(FAULT + 1, f.pack()), None);
    }
}
