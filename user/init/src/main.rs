//! init: the first process. It loads the programs of the boot archive (`loader`), hands each
//! the capabilities it needs (`grants`), sets priorities, starts them, then waits forever.
//!
//! Assumes: the kernel filled init's slots as `abi::boot::init` says and mapped the boot
//! archive. Guarantees: the serial driver (granted COM1's ports) and echo start
//! first, then exactly one of shell (normal boot), usertests (`InitArg::test`), fuzz
//! (`InitArg::fuzz`, with the campaign the kernel put in the archive's header page) or bench
//! (`InitArg::bench`); a program that fails to load is reported once the console is up.
#![no_std]
#![no_main]

mod grants;
mod loader;

use tessera_user::abi::boot::{init, InitArg};
use tessera_user::abi::bootfs;
use tessera_user::abi::elf::LoadError;
use tessera_user::abi::Rights;
use tessera_user::{caps, entry, invoke, println, slots, trace};

entry!(main);

/// Loads every program of the archive; returns the failures, to report once the console (the
/// serial driver) runs.
fn load_programs() -> [Option<(&'static str, LoadError)>; init::PROGRAMS.len()] {
    let mut failed = [const { None }; init::PROGRAMS.len()];
    let _ = trace::name(init::SELF, "init");
    let Some(archive) = loader::archive() else {
        return failed;
    };
    for (i, &(name, slot)) in init::PROGRAMS.iter().enumerate() {
        if let Some(image) = bootfs::find(archive, name) {
            // The fuzzer runs its workers in its own space, so it gets that space's capability.
            let space = if name == "fuzz" { grants::FUZZ_SPACE } else { loader::SPACE };
            match loader::load(image, slot, space) {
                // A kernel without tracing refuses the name; nothing is lost but the label.
                Ok(()) => {
                    let _ = trace::name(slot, name);
                    // These run tasks whose virtual processors share their space (user/tasks);
                    // a program left without it says so when it starts a task.
                    if matches!(name, "usertests" | "bench" | "shell") {
                        let _ = caps::set_cap(slot, slots::task::SPACE, space, Rights::ALL);
                    }
                }
                Err(e) => failed[i] = Some((name, e)),
            }
        }
    }
    failed
}

fn main(arg: u64) {
    let mode = InitArg::unpack(arg);
    tessera_user::logger::init(mode);
    let failed = load_programs();
    let started = grants::give_all(arg);
    let front = if mode.test {
        "usertests"
    } else if mode.fuzz {
        "fuzz"
    } else if mode.bench {
        "bench"
    } else {
        "shell"
    };
    for (name, e) in failed.iter().flatten() {
        println!("init: cannot load {name}: {e}");
    }
    for name in ["serial", "echo", front] {
        match init::program_slot(name) {
            Some(slot) if started.contains(name) => {
                log::debug!("init: starting {name}");
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
