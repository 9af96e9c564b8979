//! init: the first process. It loads the programs of the system table
//! (`tessera_system::PROGRAMS`) from the boot archive (`loader`), hands each the priority and
//! capabilities its entry names (`grants`), starts them, then waits forever.
//!
//! Assumes: the kernel filled init's slots as `abi::boot::init` says and mapped the boot
//! archive. Guarantees: the programs that start in every boot (the serial driver, echo) start
//! first, in table order, then those of this boot (`Boot::of` the argument word: normal, test,
//! bench or fuzz); a program that fails to load is reported once the console is up, and one
//! to start that is missing is named.
#![no_std]
#![no_main]

mod grants;
mod loader;

use tessera_bootfs::elf::LoadError;
use tessera_user::abi::boot::{init, InitArg};
use tessera_user::system::{program_slot, Boot, Starts, PROGRAMS};
use tessera_user::{caps, entry, invoke, println, trace};

entry!(main);

/// Loads every program of the system table that the archive has; returns the failures, to
/// report once the console (the serial driver) runs.
fn load_programs() -> [Option<(&'static str, LoadError)>; PROGRAMS.len()] {
    let mut failed = [const { None }; PROGRAMS.len()];
    let _ = trace::name(init::SELF, "init");
    let Some(archive) = loader::archive() else {
        return failed;
    };
    for (i, p) in PROGRAMS.iter().enumerate() {
        if let Some(image) = tessera_bootfs::archive::find(archive, p.name) {
            match loader::load(image, program_slot(i), loader::space_slot(i)) {
                // A kernel without tracing refuses the name; nothing is lost but the label.
                Ok(()) => {
                    let _ = trace::name(program_slot(i), p.name);
                }
                Err(e) => failed[i] = Some((p.name, e)),
            }
        }
    }
    failed
}

fn main(arg: u64) {
    let mode = InitArg::unpack(arg);
    tessera_user::logger::init(mode);
    let failed = load_programs();
    let prepared = grants::give_all(arg);
    for (name, e) in failed.iter().flatten() {
        println!("init: cannot load {name}: {e}");
    }
    // The servers first, then what this boot is for.
    let boot = Boot::of(mode);
    let servers = PROGRAMS
        .iter()
        .enumerate()
        .filter(|(_, p)| p.starts == Starts::Always);
    let own = PROGRAMS
        .iter()
        .enumerate()
        .filter(|(_, p)| p.starts == Starts::In(boot));
    for (i, p) in servers.chain(own) {
        if !prepared.contains(i) {
            println!("init: no program {} to start", p.name);
            continue;
        }
        log::debug!("init: starting {}", p.name);
        if let Err(e) = caps::resume(program_slot(i)) {
            println!("init: cannot start {}: {e:?}", p.name);
        }
    }
    loop {
        let _ = invoke::wait();
    }
}
