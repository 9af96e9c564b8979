//! The x86_64 save area as the core sees it: which registers carry an invocation and a reply
//! (the table in `tessera_abi::message`).

use crate::user::context::UserContext;
use crate::user::entry::EXIT_SYSCALL;
use tessera_abi::fault::Reg;
use tessera_abi::message::{Invocation, Reply};
use tessera_core::platform::SaveArea;

impl Default for UserContext {
    fn default() -> Self {
        UserContext::new(0, 0)
    }
}

impl SaveArea for UserContext {
    fn invocation(&self) -> Invocation {
        Invocation {
            cap: self.rdi,
            info: self.rsi,
            data: [self.rdx, self.r10, self.r8, self.r9],
            caps: self.rax,
        }
    }

    fn set_reply(&mut self, r: &Reply) {
        self.rax = r.error;
        self.rdi = r.badge;
        self.rsi = r.info;
        [self.rdx, self.r10, self.r8, self.r9] = r.data;
    }

    fn set_entry(&mut self, pc: u64, sp: u64, arg: u64) {
        self.rip = pc;
        self.rsp = sp;
        self.rdi = arg;
    }

    fn reg(&self, r: Reg) -> u64 {
        let mut copy = self.clone();
        *copy.slot(r)
    }

    fn set_reg(&mut self, r: Reg, value: u64) {
        *self.slot(r) = value;
        // `sysretq` would load RCX and R11 from RIP and RFLAGS: `iretq` restores every register.
        if self.exit_vector == EXIT_SYSCALL {
            self.exit_vector = FORCE_IRETQ;
        }
    }
}

/// An exit reason that is no vector and not `EXIT_SYSCALL`: the next entry uses `iretq`.
const FORCE_IRETQ: u64 = EXIT_SYSCALL + 1;

impl UserContext {
    /// Where register `r` lives.
    fn slot(&mut self, r: Reg) -> &mut u64 {
        match r {
            Reg::Rax => &mut self.rax,
            Reg::Rbx => &mut self.rbx,
            Reg::Rcx => &mut self.rcx,
            Reg::Rdx => &mut self.rdx,
            Reg::Rsi => &mut self.rsi,
            Reg::Rdi => &mut self.rdi,
            Reg::Rbp => &mut self.rbp,
            Reg::R8 => &mut self.r8,
            Reg::R9 => &mut self.r9,
            Reg::R10 => &mut self.r10,
            Reg::R11 => &mut self.r11,
            Reg::R12 => &mut self.r12,
            Reg::R13 => &mut self.r13,
            Reg::R14 => &mut self.r14,
            Reg::R15 => &mut self.r15,
            Reg::Rip => &mut self.rip,
            Reg::Rsp => &mut self.rsp,
            Reg::Rflags => &mut self.rflags,
        }
    }
}
