//! Faults the simulated programs take in user mode: a page fault at an address nothing maps,
//! #GP, #UD or a divide error, handed to the core's fault entry (`Kernel::fault`) as the arch
//! would, with the program's registers at the faulting instruction. A program with a keeper
//! (`keeper.rs`) waits for it; one without is halted by the kernel.
//!
//! # What is checked
//! - Every fault has its own instruction address (`site`), so the keeper's message names it: a
//!   message for a fault nobody took, for another program, or for a fault already delivered
//!   fails the run (delivered once at most).
//! - The registers at the fault are kept: whenever the kernel lets them be read (READ_REGS of a
//!   halted program, or of one in its keeper's hands, after every round), and when the program
//!   next runs, they are the ones it had at the fault, as its keeper changed them.
//! - A program never runs user code again while its fault is not over: its keeper has replied,
//!   or it was halted (by the kernel for want of a keeper, by its keeper, or by the injector)
//!   and then resumed. It then goes on at the faulting instruction, or past it (site + 2) where
//!   its keeper moved RIP.
//! - After the drain every fault is over, unless the program or its keeper is dead; and every
//!   fault whose program and keeper live reached the keeper or a halt.

use std::collections::BTreeMap;

use tessera_abi::fault::{kind, page_fault, Fault, Reg};
use tessera_abi::{order, CapType};
use tessera_core::{Cap, SaveArea};

use crate::program::Pending;
use crate::turns::Entry;
use crate::world::Sim;
use tessera_core::model_regs::ModelRegs;

/// Where the faulting instructions of the simulated programs are; each fault gets its own.
const SITES: u64 = 0x40_0000;
/// The length of every faulting instruction (`ud2`, `div rcx`, ...): a keeper that emulates one
/// moves RIP this far.
pub(crate) const INSTRUCTION: u64 = 2;
/// Where page faults are taken: no program maps anything there.
const UNMAPPED: u64 = 0x7000_0000;

/// A fault of a program that is not over yet.
#[derive(Clone, Copy, Debug)]
pub struct Outstanding {
    /// The fault's number (its `site` is derived from it).
    pub id: u64,
    pub fault: Fault,
    /// The registers the program must have when it next runs or is read: those at the fault,
    /// with its keeper's writes.
    pub expect: ModelRegs,
    /// It may run again: its keeper replied, or it was halted since the fault.
    pub released: bool,
}

impl Outstanding {
    /// Whether `regs` are the registers this fault must have kept, each as expected or as one
    /// of `writes` (WRITE_REGS of its keepers whose results they have not seen) left it.
    pub fn kept(&self, regs: &ModelRegs, writes: &[(Reg, u64)]) -> bool {
        Reg::ALL
            .iter()
            .all(|&r| regs.reg(r) == self.expect.reg(r) || writes.contains(&(r, regs.reg(r))))
    }
}

/// What became of each fault, by site.
#[derive(Clone, Copy, Debug)]
pub struct Logged {
    pub program: usize,
    /// Its keeper at the fault.
    pub keeper: Option<usize>,
    /// How many messages its keeper received for it.
    pub delivered: u32,
    /// The program was halted while the fault was not over.
    pub halted: bool,
}

/// Every fault taken, by site.
pub type FaultLog = BTreeMap<u64, Logged>;

impl Sim {
    /// Program `p`, current on CPU `c`, takes a fault instead of its next `syscall`: its
    /// registers at the faulting instruction are set (RIP at a fresh site, a few others to fresh
    /// values), recorded, and the entry made.
    pub(crate) fn take_fault(&mut self, c: usize, p: usize) -> Entry {
        // Its keeper may halt it or move it on: its requests are no longer all owed.
        self.progs[p].whole = false;
        self.stats.user_faults += 1;
        let id = self.stats.user_faults;
        let site = SITES + id * 0x10;
        let regs = &mut self.regs[c];
        regs.pc = site;
        for r in [Reg::Rbx, Reg::Rcx, Reg::R12, Reg::R15] {
            regs.set_reg(r, self.rng.next_u64());
        }
        let (k, error, addr) = match self.rng.below(4) {
            0 => (
                kind::PAGE_FAULT,
                page_fault::USER | page_fault::WRITE,
                UNMAPPED + self.rng.below(0x100) * 0x1000,
            ),
            1 => (kind::GENERAL_PROTECTION, 0, 0),
            2 => (kind::INVALID_OPCODE, 0, 0),
            _ => (kind::DIVIDE_ERROR, 0, 0),
        };
        let fault = Fault {
            kind: k,
            error,
            addr,
            rip: site,
        };
        let keeper = self.progs[p].keeper.filter(|&k| self.progs[k].alive);
        self.faults.insert(
            site,
            Logged {
                program: p,
                keeper,
                delivered: 0,
                halted: false,
            },
        );
        self.progs[p].stale_writes.clear();
        self.progs[p].fault = Some(Outstanding {
            id,
            fault,
            expect: *regs,
            released: false,
        });
        Entry::Exception(fault)
    }

    /// Program `p`, current on CPU `c` with a fault not over, runs again: it must have been
    /// let go, with the registers it had at the fault as its keeper left them; it then goes on
    /// (past the instruction, or running it again, which now succeeds). The fault is over.
    pub(crate) fn fault_over(&mut self, c: usize, p: usize) -> Result<(), String> {
        let Some(o) = self.progs[p].fault.take() else {
            return Ok(());
        };
        if !o.released {
            return Err(format!(
                "program {p} runs user code while fault {} ({:?}) is not over: its keeper has \
                 not replied and it was not halted",
                o.id, o.fault
            ));
        }
        let regs = self.regs[c];
        let write = self.keeper_writes(p);
        if !o.kept(&regs, &write) {
            return Err(format!(
                "program {p} runs after fault {} with registers {regs:?}, not those at the \
                 fault as its keeper left them: {:?} (keeper write {write:?})",
                o.id, o.expect
            ));
        }
        self.progs[p].stale_writes.clear();
        // A dead keeper's write landed before now or never will: it is no longer in flight.
        for k in self
            .progs
            .iter_mut()
            .filter(|k| !k.alive && k.keeps == Some(p))
        {
            k.pending = None;
        }
        Ok(())
    }

    /// The WRITE_REGS on `p` its keepers issued and have not seen the results of, and those
    /// made for an earlier fault that may have landed during this one: each may have been made,
    /// or be made later (a halted keeper re-runs its call when resumed; one destroyed meanwhile
    /// made it or never will).
    pub(crate) fn keeper_writes(&self, p: usize) -> Vec<(Reg, u64)> {
        let pending = self
            .progs
            .iter()
            .filter(|k| k.keeps == Some(p))
            .filter_map(|k| match k.pending {
                Some(Pending::WriteRegs { reg, value, .. }) => Some((Reg::from_raw(reg)?, value)),
                _ => None,
            });
        pending
            .chain(self.progs[p].stale_writes.iter().copied())
            .collect()
    }

    /// Whether `p` may have been halted by someone the record does not follow: the kernel or
    /// its keeper, at a fault not over, or a HALT its keeper issued and has not seen the result
    /// of (a halted keeper re-runs it when resumed, whenever that is).
    pub(crate) fn halt_unseen(&self, p: usize) -> bool {
        self.progs[p].fault.is_some()
            || self
                .progs
                .iter()
                .any(|k| k.alive && k.keeps == Some(p) && k.pending == Some(Pending::KeeperHalt))
    }

    /// Program `p` was halted (the record says so, or the kernel showed it): a fault not over
    /// may end with RESUME now.
    pub(crate) fn fault_halted(&mut self, p: usize) {
        self.progs[p].whole = false;
        if let Some(o) = self.progs[p].fault.as_mut() {
            o.released = true;
            if let Some(l) = self.faults.get_mut(&o.fault.rip) {
                l.halted = true;
            }
        }
    }

    /// The registers of every program with a fault not over, wherever the kernel lets them be
    /// read (it is halted, or in its keeper's hands), must be those at the fault as its keeper
    /// left them.
    pub(crate) fn check_fault_registers(&mut self) -> Result<(), String> {
        for p in 0..self.progs.len() {
            let Some(o) = self.progs[p].fault.filter(|_| self.progs[p].alive) else {
                continue;
            };
            let cap = Cap::new(CapType::Process, self.progs[p].id);
            let mut regs = ModelRegs::default();
            let mut read = true;
            for first in (0..Reg::COUNT).step_by(4) {
                match self.kernel.kernel_invoke(
                    &mut self.cpus[0],
                    cap,
                    order::process::READ_REGS,
                    &[first],
                    &[],
                ) {
                    Ok((w, _)) => {
                        for (i, value) in w.iter().enumerate() {
                            if let Some(r) = Reg::from_raw(first + i as u64) {
                                regs.set_reg(r, *value);
                            }
                        }
                    }
                    Err(_) => read = false,
                }
            }
            let write = self.keeper_writes(p);
            if read && !o.kept(&regs, &write) {
                return Err(format!(
                    "program {p} at rest after fault {} ({:?}) has registers {regs:?}, not those \
                     at the fault as its keeper left them: {:?} (keeper write {write:?})",
                    o.id, o.fault, o.expect
                ));
            }
        }
        Ok(())
    }

    /// After the drain: every fault of a live program is over unless its keeper died holding
    /// it, and every fault of a live program whose keeper lives reached the keeper or a halt.
    pub(crate) fn check_faults_over(&self) -> Result<(), String> {
        let alive = |i: usize| self.progs.get(i).is_some_and(|p| p.alive);
        for (p, prog) in self.progs.iter().enumerate().filter(|(_, p)| p.alive) {
            let Some(o) = prog.fault else { continue };
            let keeper = self.faults.get(&o.fault.rip).and_then(|l| l.keeper);
            if keeper.is_some_and(alive) || keeper.is_none() {
                return Err(format!(
                    "program {p}'s fault {} ({:?}) was never over (keeper {keeper:?} alive): \
                     lost between the fault, its keeper and the halts",
                    o.id, o.fault
                ));
            }
        }
        for (site, l) in &self.faults {
            if alive(l.program) && l.keeper.is_none() && !l.halted {
                return Err(format!(
                    "the fault at {site:#x} of program {}, which has no keeper, did not halt it",
                    l.program
                ));
            }
            if alive(l.program) && l.keeper.is_some_and(alive) && l.delivered == 0 && !l.halted {
                return Err(format!(
                    "the fault at {site:#x} of program {} reached neither its keeper {:?} nor a \
                     halt",
                    l.program, l.keeper
                ));
            }
        }
        Ok(())
    }
}
