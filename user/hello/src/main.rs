//! hello: the smallest program, the one `docs/WRITING_PROGRAMS.md` builds. It prints one line
//! through the console endpoint its entry in the system table gives it, and returns, which
//! halts it (`ps` still lists it, as halted).
#![no_std]
#![no_main]

use tessera_user::{entry, println};

entry!(main);

fn main(_arg: u64) {
    println!("hello: hello, world");
}
