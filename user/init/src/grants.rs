//! What each program gets from init: slots as `tessera_user::slots` names them, a priority,
//! and its argument word (init's own `InitArg`, so everyone knows the TSC rate and the mode).
//!
//! Invariants: init's slots below `slots::FREE` keep the kernel's layout, except slot 3
//! (`abi::boot::init::SERIAL_IRQ`), whose IRQ line moves to [`IRQ`] so that init prints
//! through `slots::CONSOLE` like every other program.

use tessera_user::abi::boot::{init, InitArg, STACK_TOP};
use tessera_user::abi::{CapType, Error, Rights};
use crate::loader;
use tessera_user::{caps, println, slots, ENTRY};

/// Where init keeps what it makes and what it moves.
const IRQ: u8 = slots::FREE;
const CONSOLE_EP: u8 = slots::FREE + 1;
const IRQ_EP: u8 = slots::FREE + 2;
const ECHO_EP: u8 = slots::FREE + 3;
const SUB_BANK: u8 = slots::FREE + 4;
/// Where init keeps the fuzzer's address space (`loader::load`), to give it to the fuzzer.
pub const FUZZ_SPACE: u8 = slots::FREE + 5;
const SELF_CAP: u8 = slots::FREE + 6;

/// Quota of the banks the shell, usertests and bench get for helper processes and test objects.
const SUB_BANK_QUOTA: u64 = 1024;
/// Quota of the fuzzer's bank: its workers' stacks and the bank it hands the workers.
const FUZZ_BANK_QUOTA: u64 = 4096;

/// Priorities: the driver above everything, echo above its clients so a reply is prompt. Each
/// program's priority is also its ceiling: it can raise neither itself nor what it creates.
fn priority(name: &str) -> u64 {
    match name {
        "serial" => 20,
        "echo" => 12,
        _ => 10,
    }
}

/// The programs that were loaded (their slots hold processes).
pub struct Started([bool; init::PROGRAMS.len()]);

impl Started {
    pub fn contains(&self, name: &str) -> bool {
        init::PROGRAMS
            .iter()
            .zip(self.0)
            .any(|((n, _), s)| *n == name && s)
    }
}

/// Prepares every loaded program; returns which ones are there.
pub fn give_all(arg: u64) -> Started {
    let mut started = Started([false; init::PROGRAMS.len()]);
    if let Err(e) = endpoints() {
        println!("init: cannot make the system endpoints: {e:?}");
    }
    for (i, (name, slot)) in init::PROGRAMS.iter().enumerate() {
        if caps::get_type(*slot) != Ok(CapType::Process) {
            continue;
        }
        match give(name, *slot, arg) {
            Ok(()) => started.0[i] = true,
            Err(e) => println!("init: cannot prepare {name}: {e:?}"),
        }
    }
    started
}

fn endpoints() -> Result<(), Error> {
    let program = |name| init::program_slot(name).ok_or(Error::NullArgument);
    caps::set_cap(init::SELF, IRQ, init::SERIAL_IRQ, Rights::ALL)?;
    caps::make_endpoint(program("serial")?, slots::CONSOLE_BADGE, CONSOLE_EP)?;
    caps::make_endpoint(program("serial")?, slots::serial::IRQ_BADGE, IRQ_EP)?;
    caps::set_cap(init::SELF, slots::CONSOLE, CONSOLE_EP, Rights::ALL)?;
    caps::make_endpoint(program("echo")?, slots::ECHO_BADGE, ECHO_EP)
}

fn give(name: &str, p: u8, arg: u64) -> Result<(), Error> {
    caps::set_priority(p, priority(name))?;
    caps::set_ceiling(p, priority(name), SELF_CAP)?;
    caps::set_cap(p, slots::SELF, SELF_CAP, Rights::ALL)?;
    // The fuzzer's argument is its campaign (seed, count, CPUs), not init's word.
    let own_arg = if name == "fuzz" { loader::fuzz_arg() } else { arg };
    caps::set_entry(p, ENTRY, STACK_TOP, own_arg)?;
    if name == "serial" {
        caps::grant_io_ports(init::SERIAL_PORTS, p)?;
        caps::set_cap(p, slots::serial::IRQ, IRQ, Rights::ALL)?;
        return caps::set_cap(p, slots::serial::IRQ_ENDPOINT, IRQ_EP, Rights::ALL);
    }
    caps::set_cap(p, slots::CONSOLE, CONSOLE_EP, Rights::ALL)?;
    if name == "echo" {
        return Ok(());
    }
    caps::set_cap(p, slots::ECHO, ECHO_EP, Rights::ALL)?;
    if name == "shell" || name == "usertests" || name == "bench" {
        caps::create_bank(init::BANK, SUB_BANK_QUOTA, SUB_BANK)?;
        caps::set_cap(p, slots::BANK, SUB_BANK, Rights::ALL)?;
    }
    if name == "fuzz" {
        let fuzzing = InitArg::unpack(arg).fuzz;
        let quota = if fuzzing { FUZZ_BANK_QUOTA } else { SUB_BANK_QUOTA };
        caps::create_bank(init::BANK, quota, SUB_BANK)?;
        caps::set_cap(p, slots::BANK, SUB_BANK, Rights::ALL)?;
        caps::set_cap(p, slots::fuzz::SPACE, FUZZ_SPACE, Rights::ALL)?;
    }
    if name == "shell" {
        caps::set_cap(p, slots::shell::INIT, init::SELF, Rights::ALL)?;
        for (_, slot) in init::PROGRAMS {
            caps::set_cap(p, slot, slot, Rights::ALL)?;
        }
    }
    Ok(())
}
