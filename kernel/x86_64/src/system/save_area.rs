//! The x86_64 save area as the core sees it: which registers carry an invocation and a reply
//! (the table in `tessera_abi::message`).

use crate::user::context::UserContext;
use tessera_abi::message::{Invocation, Reply};
use tessera_core::platform::SaveArea;

impl Default for UserContext {
    fn default() -> Self {
        UserContext::new(0, 0)
    }
}

impl SaveArea for UserContext {
    fn invocation(&self) -> Invocation {
        Invocation { cap: self.rdi, info: self.rsi, data: [self.rdx, self.r10, self.r8, self.r9], caps: self.rax }
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
}
