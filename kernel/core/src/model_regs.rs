//! `ModelRegs`: the user registers of a process on the test platforms (the simulator's and
//! the core tests'), with the `syscall` registers mapped to invocations and replies as the
//! ABI says (`tessera_abi::message::SyscallRegs`), so both machines read and write them one
//! way. Not used by a real kernel: the x86_64 save area is its own.

use tessera_abi::fault::Reg;
use tessera_abi::message::{Invocation, Reply, SyscallRegs};

use crate::platform::SaveArea;

/// The `syscall` registers, the instruction and stack pointers, and the rest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelRegs {
    /// The seven registers an invocation and its reply travel in.
    pub sys: SyscallRegs,
    /// The instruction pointer.
    pub pc: u64,
    /// The stack pointer.
    pub sp: u64,
    /// rbx, rcx, rbp, r11..r15, rflags.
    pub rest: [u64; 9],
}

impl ModelRegs {
    /// Loads an invocation into the registers, as user code would before `syscall`.
    pub fn load(&mut self, inv: &Invocation) {
        self.sys.load(inv);
    }

    /// The reply registers, as user code sees them after `syscall`.
    pub fn reply(&self) -> Reply {
        self.sys.reply()
    }

    /// Where register `r` lives.
    fn slot(&mut self, r: Reg) -> &mut u64 {
        match r {
            Reg::Rip => &mut self.pc,
            Reg::Rsp => &mut self.sp,
            Reg::Rbx => &mut self.rest[0],
            Reg::Rcx => &mut self.rest[1],
            Reg::Rbp => &mut self.rest[2],
            Reg::R11 => &mut self.rest[3],
            Reg::R12 => &mut self.rest[4],
            Reg::R13 => &mut self.rest[5],
            Reg::R14 => &mut self.rest[6],
            Reg::R15 => &mut self.rest[7],
            Reg::Rflags => &mut self.rest[8],
            Reg::Rax | Reg::Rdi | Reg::Rsi | Reg::Rdx | Reg::R10 | Reg::R8 | Reg::R9 => self
                .sys
                .slot(r)
                .expect("the seven syscall registers are in `SyscallRegs`"),
        }
    }
}

impl SaveArea for ModelRegs {
    fn invocation(&self) -> Invocation {
        self.sys.invocation()
    }

    fn set_reply(&mut self, r: &Reply) {
        self.sys.set_reply(r);
    }

    fn set_entry(&mut self, pc: u64, sp: u64, arg: u64) {
        self.pc = pc;
        self.sp = sp;
        self.sys.rdi = arg;
    }

    fn reg(&self, r: Reg) -> u64 {
        let mut copy = *self;
        *copy.slot(r)
    }

    fn set_reg(&mut self, r: Reg, value: u64) {
        *self.slot(r) = value;
    }
}
