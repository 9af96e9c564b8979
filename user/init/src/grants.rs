//! What each program gets from init, as its entry of the system table
//! (`tessera_system::PROGRAMS`) says: priority, ceiling, CPU, I/O ports, argument word and the
//! capabilities in its slots.
//!
//! Invariants: init's slots below `slots::FREE` keep the kernel's layout, except slot 3
//! (`abi::boot::init::SERIAL_IRQ`), whose IRQ line moves to [`IRQ`] so that init prints
//! through `slots::CONSOLE` like every other program.

use crate::loader;
use tessera_user::abi::boot::{init, io_ports, InitArg, STACK_TOP};
use tessera_user::abi::{CapType, Error, Rights};
use tessera_user::system::{index_of, program_slot, Arg, Boot, Cap, Grant, Program, PROGRAMS};
use tessera_user::{caps, println, slots, ENTRY};

/// Where init keeps what it moves and what it makes.
const IRQ: u8 = slots::FREE;
/// A capability init has just made (an endpoint, a bank), before it copies it to a program.
const MADE: u8 = slots::FREE + 1;
/// The program being prepared, at its ceiling: what it gets as `slots::SELF`.
const SELF_CAP: u8 = slots::FREE + 2;

/// The programs that were prepared (loaded, and given what their entry says), by index.
pub struct Prepared([bool; PROGRAMS.len()]);

impl Prepared {
    pub fn contains(&self, index: usize) -> bool {
        self.0[index]
    }
}

/// Prepares every loaded program; returns which ones are ready to start.
pub fn give_all(arg: u64) -> Prepared {
    let mut prepared = Prepared([false; PROGRAMS.len()]);
    if let Err(e) = own_console() {
        println!("init: cannot make its console endpoint: {e:?}");
    }
    let boot = Boot::of(InitArg::unpack(arg));
    for (i, p) in PROGRAMS.iter().enumerate() {
        if caps::get_type(program_slot(i)) != Ok(CapType::Process) {
            continue;
        }
        match give(p, i, arg, boot) {
            Ok(()) => prepared.0[i] = true,
            Err(e) => println!("init: cannot prepare {}: {e:?}", p.name),
        }
    }
    prepared
}

/// Moves the IRQ line out of init's console slot and puts an endpoint to the driver there.
fn own_console() -> Result<(), Error> {
    caps::set_cap(init::SELF, IRQ, init::SERIAL_IRQ, Rights::ALL)?;
    let serial = index_of("serial").ok_or(Error::NullArgument)?;
    caps::make_endpoint(program_slot(serial), slots::CONSOLE_BADGE, MADE)?;
    caps::set_cap(init::SELF, slots::CONSOLE, MADE, Rights::ALL)
}

fn give(p: &Program, index: usize, arg: u64, boot: Boot) -> Result<(), Error> {
    let slot = program_slot(index);
    caps::set_priority(slot, p.priority)?;
    caps::set_ceiling(slot, p.ceiling, SELF_CAP)?;
    if let Some(cpu) = p.cpu {
        caps::set_affinity(slot, cpu as u64)?;
    }
    let own_arg = match p.arg {
        Arg::Init => arg,
        Arg::Fuzz => loader::fuzz_arg(),
    };
    caps::set_entry(slot, ENTRY, STACK_TOP, own_arg)?;
    if let Some(range) = p.io_ports {
        // The kernel gives init one capability per port range it makes.
        let ports = if range == io_ports::SERIAL {
            init::SERIAL_PORTS
        } else {
            return Err(Error::InvalidArgument);
        };
        caps::grant_io_ports(ports, slot)?;
    }
    for g in p.caps {
        grant(g, index, p.starts_in(boot))?;
    }
    Ok(())
}

/// Fills one slot of program `index`; `started` says whether this boot starts it.
fn grant(g: &Grant, index: usize, started: bool) -> Result<(), Error> {
    let p = program_slot(index);
    let from = match g.cap {
        Cap::OwnProcess => SELF_CAP,
        Cap::OwnSpace => loader::space_slot(index),
        Cap::Bank { pages, idle_pages } => {
            caps::create_bank(init::BANK, if started { pages } else { idle_pages }, MADE)?;
            MADE
        }
        Cap::Endpoint { server, badge } => {
            let server = index_of(server).ok_or(Error::NullArgument)?;
            caps::make_endpoint(program_slot(server), badge, MADE)?;
            MADE
        }
        Cap::SerialIrq => IRQ,
        Cap::Init => init::SELF,
        Cap::EveryProgram => {
            for i in 0..PROGRAMS.len() {
                caps::set_cap(p, program_slot(i), program_slot(i), Rights::ALL)?;
            }
            return Ok(());
        }
    };
    caps::set_cap(p, g.slot, from, Rights::ALL)
}
