//! `ps` and `kill`: the processes the shell holds capabilities to (init's and every program's
//! of `abi::boot::init::PROGRAMS`, at the slots init gives them).
//!
//! Guarantees: a process is listed from one INFO answer, so each line is consistent; `kill`
//! HALTs only a process whose INFO pid matches the one asked for, never the shell itself or
//! the serial driver (the console would go with them).

use tessera_user::abi::boot::init::PROGRAMS;
use tessera_user::abi::{Error, ProcessInfo};
use tessera_user::{caps, println, slots};

/// The processes the shell can see: (name, slot).
fn known() -> impl Iterator<Item = (&'static str, u8)> {
    core::iter::once(("init", slots::shell::INIT)).chain(PROGRAMS.iter().copied())
}

fn live() -> impl Iterator<Item = (&'static str, u8, ProcessInfo)> {
    known().filter_map(|(name, slot)| caps::info(slot).ok().map(|i| (name, slot, i)))
}

pub fn ps() {
    println!(
        "{:>4}  {:<10} {:<10} {:>4} {:>4} {:>12}",
        "ID", "NAME", "STATE", "PRIO", "CPU", "INVOCATIONS"
    );
    for (name, _, i) in live() {
        let cpu = i.cpu.map_or(-1, |c| c as i64);
        println!(
            "{:>4}  {:<10} {:<10} {:>4} {:>4} {:>12}",
            i.pid,
            name,
            i.state.name(),
            i.priority,
            cpu,
            i.invocations
        );
    }
}

pub fn kill(arg: &str) {
    let Ok(pid) = arg.trim().parse::<u32>() else {
        println!("kill: usage: kill <id>   (ids are listed by ps)");
        return;
    };
    match live().find(|(_, _, i)| i.pid == pid) {
        None => println!("kill: no process {pid} (see ps)"),
        Some(("shell", _, _)) => println!("kill: that is this shell; use shutdown"),
        Some(("serial", _, _)) => {
            println!("kill: that is the console driver; the console would die with it")
        }
        Some((name, slot, _)) => match caps::halt(slot) {
            Ok(()) => println!("kill: halted {pid} ({name})"),
            Err(Error::BadState) => println!("kill: {pid} ({name}) is already halted"),
            Err(e) => println!("kill: {pid} ({name}): {e:?}"),
        },
    }
}
