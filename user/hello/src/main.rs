//! hello: the smallest program, the one `docs/WRITING_PROGRAMS.md` starts from. Its `main`
//! returns at once, which halts it; `ps` lists it as halted, with the one invocation that
//! halted it. It prints nothing: it starts beside the shell, and a line of its own could land
//! between the shell's prompt and what is typed at it.
#![no_std]
#![forbid(unsafe_code)]
#![no_main]

use tessera_user::entry;

entry!(main);

fn main(_arg: u64) {}
