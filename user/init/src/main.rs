//! init: the first process. It hands every program of the boot archive the capabilities it
//! needs (`grants`), sets priorities, starts them, then waits forever.
//!
//! Assumes: the kernel filled init's slots as `abi::boot::init` says and left every other
//! program halted at its entry. Guarantees: the serial driver and echo start first, then
//! exactly one of shell (normal boot), usertests (`InitArg::test`) or bench (`InitArg::bench`).
#![no_std]
#![no_main]

mod grants;

use tessera_user::abi::boot::{init, InitArg};
use tessera_user::{caps, entry, invoke, println};

entry!(main);

fn main(arg: u64) {
    let mode = InitArg::unpack(arg);
    let started = grants::give_all(arg);
    let front = if mode.test {
        "usertests"
    } else if mode.bench {
        "bench"
    } else {
        "shell"
    };
    for name in ["serial", "echo", front] {
        match init::program_slot(name) {
            Some(slot) if started.contains(name) => {
                if let Err(e) = caps::resume(slot) {
                    println!("init: cannot start {name}: {e:?}");
                }
            }
            _ => println!("init: no program {name} to start"),
        }
    }
    loop {
        let _ = invoke::wait();
    }
}
