//! `ps` and `kill`: the processes the shell holds capabilities to (init's and every program's
//! of the system table `tessera_system::PROGRAMS`, at the slots init gives them).
//!
//! Guarantees: a process is listed from one INFO answer, so each line is consistent; `kill`
//! HALTs only a process whose INFO pid matches the one asked for, never the shell itself or
//! the serial driver (the console would go with them).

use tessera_user::abi::{Error, ProcessInfo, QueueOwned};
use tessera_user::system::{program_slot, PROGRAMS};
use tessera_user::{caps, println, slots};

/// The processes the shell can see: (name, slot).
fn known() -> impl Iterator<Item = (&'static str, u8)> {
    let programs = PROGRAMS
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name, program_slot(i)));
    core::iter::once(("init", slots::shell::INIT)).chain(programs)
}

fn live() -> impl Iterator<Item = (&'static str, u8, ProcessInfo)> {
    known().filter_map(|(name, slot)| caps::info(slot).ok().map(|i| (name, slot, i)))
}

/// The queue a process owns, as `ps` shows it (seed 002: woken from its head, the resource
/// is reserved for it).
struct Owns(QueueOwned);

impl core::fmt::Display for Owns {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self.0 {
            QueueOwned::None => f.write_str("-"),
            QueueOwned::PostPool => f.write_str("post pool"),
            QueueOwned::Senders(pid) => write!(f, "senders of {pid}"),
        }
    }
}

pub fn ps() {
    println!(
        "{:>4}  {:<10} {:<10} {:>4} {:>4} {:>4} {:>4} {:>11}  {}",
        "ID", "NAME", "STATE", "PRIO", "CEIL", "CPU", "PIN", "INVOCATIONS", "OWNS QUEUE"
    );
    for (name, _, i) in live() {
        let cpu = i.cpu.map_or(-1, |c| c as i64);
        // The CPU it is pinned to, or -1: any.
        let pin = i.affinity.map_or(-1, |c| c as i64);
        println!(
            "{:>4}  {:<10} {:<10} {:>4} {:>4} {:>4} {:>4} {:>11}  {}",
            i.pid,
            name,
            i.state.name(),
            i.priority,
            i.ceiling,
            cpu,
            pin,
            i.invocations,
            Owns(i.owns)
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
