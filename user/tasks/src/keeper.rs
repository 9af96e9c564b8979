//! The task's fault keeper, seed 000 section 5's primary trap handler: every VP's faults come
//! to the home process as CALLs with the VP stopped and its registers kept. A page fault in the
//! guard of a chore's stack chunk is a stack overflow: the stack grows by a chunk while the
//! slot's limit allows (the faulting instruction then re-runs), else the keeper reports
//! `stack overflow in chore <id>` and ends that chore only. Any other fault goes to the
//! chore's tertiary handler table (`Chore::dispatch_trap`), which may move its RIP and resume
//! it, or end it.
//!
//! The keeper also maps the stack chunks the VPs' pools ask for (`more_stacks`).
//!
//! Guarantees: a fault ends at most the chore that made it; the VP goes on with its other
//! chores. A fault in a VP's listener (the runtime itself) ends the run with an error.

use alloc::format;
use alloc::string::String;

use tessera_runtime::{Runtime, Trap, TrapOutcome};
use tessera_user::abi::fault::{kind, Fault, Reg};
use tessera_user::{caps, invoke, println};

use crate::memory::load;
use crate::memory::Memory;
use crate::slots::{process_entry, PROCESS, RESUME, TASK_CAPS};
use crate::stacks::StackRegion;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeeperCounts {
    /// Stacks grown by a chunk (or more, for one big frame).
    pub grown: u64,
    /// Chores ended for overflowing their stack's limit.
    pub overflows: u64,
    /// Refills of the VPs' stack pools the home mapped from the task's bank.
    pub refills: u64,
    /// Refills refused (the task's bank or address space was full).
    pub refused_refills: u64,
    /// Faults a chore's tertiary handler fixed.
    pub handled: u64,
    /// Chores ended for any other fault.
    pub ended: u64,
}

pub(crate) struct Keeper<'a> {
    rt: &'a Runtime,
    region: &'a StackRegion,
    memory: &'a mut Memory,
    pub(crate) counts: KeeperCounts,
}

fn step<T>(what: &str, r: Result<T, tessera_user::abi::Error>) -> Result<T, String> {
    r.map_err(|e| format!("keeper: {what}: {e:?}"))
}

impl<'a> Keeper<'a> {
    pub(crate) fn new(rt: &'a Runtime, region: &'a StackRegion, memory: &'a mut Memory) -> Self {
        Keeper {
            rt,
            region,
            memory,
            counts: KeeperCounts::default(),
        }
    }

    /// Maps the stack chunks a VP's pool asked for (`stacks.rs`), as far as the task's bank
    /// allows, and lets the VP go on: it finds what was mapped.
    pub(crate) fn more_stacks(&mut self, slot: u64) -> Result<(), String> {
        match self.region.map_more(slot as usize, self.memory) {
            Ok(()) => self.counts.refills += 1,
            Err(_) => self.counts.refused_refills += 1,
        }
        step("reply", invoke::send(RESUME, 0, &[], &[]).map(|_| ()))
    }

    /// Handles VP `vp`'s fault message and lets the VP go on.
    pub(crate) fn fault(&mut self, vp: usize, order: u32, data: [u64; 4]) -> Result<(), String> {
        let f =
            Fault::unpack(order, data).ok_or_else(|| format!("VP {vp}: not a fault message"))?;
        let chore = self
            .rt
            .faulted(vp)
            .ok_or_else(|| format!("VP {vp}'s listener faulted: {f:x?}"))?;
        let id = chore.chore().id();
        step("load VP", load(TASK_CAPS, process_entry(vp), PROCESS))?;
        let p = PROCESS;
        let in_guard = (f.kind == kind::PAGE_FAULT)
            .then(|| self.region.guard_slot(f.addr as usize))
            .flatten();
        let end = if let Some(slot) = in_guard {
            if self.region.grow(slot, f.addr as usize, self.memory) > 0 {
                self.counts.grown += 1;
                false
            } else {
                println!("stack overflow in chore {id}");
                self.counts.overflows += 1;
                true
            }
        } else {
            let mut trap = Trap {
                vector: f.kind as u8,
                address: f.addr,
                rip: f.rip,
            };
            match chore.chore().dispatch_trap(&mut trap) {
                TrapOutcome::Resume => {
                    step("move RIP", caps::write_reg(p, Reg::Rip, trap.rip))?;
                    self.counts.handled += 1;
                    false
                }
                TrapOutcome::EndChore => {
                    println!(
                        "fault {} at {:#x} (address {:#x}) in chore {id}: chore ended",
                        f.kind, f.rip, f.addr
                    );
                    self.counts.ended += 1;
                    true
                }
            }
        };
        if end {
            let (ip, sp, arg) = chore.kill();
            step(
                "kill RIP, RSP",
                caps::write_regs(p, Reg::Rip, &[ip as u64, sp as u64]),
            )?;
            step("kill RDI", caps::write_reg(p, Reg::Rdi, arg as u64))?;
        }
        step("reply", invoke::send(RESUME, 0, &[], &[]).map(|_| ()))
    }
}
