//! The simulated system: N CPUs, M programs, a seeded scheduler of steps, fault injection, and
//! the invariant checks run after every step.
//!
//! A step is one of: a user step on a CPU (its current program consumes the result of its
//! last invocation and issues the next `syscall`), a timer tick, a burst of IRQs, a page
//! fault, a delivered IPI, an idle CPU polling, or an injected fault (halt, resume, destroy
//! and replace a process). The kernel runs each entry to completion; interleaving is between
//! entries, as on a machine whose locks serialise conflicting paths.

use std::collections::BTreeMap;

use tessera_core::{Cap, Cpu, Kernel, ObjId};

use crate::ledger::Ledger;
use crate::platform::{Regs, SimPlatform};
use crate::program::{Program, Role};
use crate::rng::Rng;

/// What a run did (to show the runs are not vacuous).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub steps: u64,
    pub delivered: u64,
    pub irqs: u64,
    pub faults: u64,
}

/// One simulated system.
pub struct Sim {
    pub(crate) rng: Rng,
    pub(crate) kernel: Kernel<SimPlatform>,
    pub(crate) cpus: Vec<Cpu>,
    pub(crate) regs: Vec<Regs>,
    pub(crate) progs: Vec<Program>,
    pub(crate) by_id: BTreeMap<ObjId, usize>,
    pub(crate) servers: Vec<Option<usize>>,
    pub(crate) root: Cap,
    pub(crate) ledger: Ledger,
    pub(crate) stats: Stats,
}

pub(crate) const IRQ_LINES: u32 = 4;

impl Sim {
    /// Runs `steps` random steps, then drains; checks invariants after every step.
    pub fn run(mut self, steps: u64) -> Result<Stats, String> {
        for _ in 0..steps {
            self.step()?;
            self.check()?;
        }
        self.drain()?;
        self.stats.delivered = self.ledger.delivered;
        self.stats.irqs = self.ledger.irqs;
        Ok(self.stats)
    }

    fn step(&mut self) -> Result<(), String> {
        self.stats.steps += 1;
        let c = self.rng.index(self.cpus.len());
        match self.rng.below(100) {
            0..=64 => self.user_step(c)?,
            65..=72 => {
                self.kernel.timer_tick(self.cpus[c].id);
                self.interrupt(c);
            }
            73..=76 => {
                for _ in 0..1 + self.rng.below(6) {
                    let line = self.rng.below(u64::from(IRQ_LINES)) as u32;
                    self.kernel.note_irq(self.cpus[c].id, line);
                }
                self.interrupt(c);
            }
            77..=82 => {
                let vpn = self.rng.below(8);
                let _ = self.kernel.resolve_fault(&mut self.cpus[c], vpn);
            }
            83..=88 => self.inject_fault()?,
            _ => self.deliver_ipis(),
        }
        Ok(())
    }

    /// The current program of CPU `c` runs until its next `syscall`.
    pub(crate) fn user_step(&mut self, c: usize) -> Result<(), String> {
        let Some(p) = self.cpus[c]
            .current()
            .and_then(|id| self.by_id.get(&id).copied())
        else {
            self.poll(c);
            return Ok(());
        };
        let reply = self.regs[c].reply();
        self.progs[p].consume(p, &reply, &mut self.ledger)?;
        let inv = match self.progs[p].role {
            Role::Server => self.progs[p].server_step(&mut self.rng),
            Role::Client => self.progs[p].client_step(p, &mut self.rng, &mut self.ledger),
        };
        self.regs[c].load(&inv);
        self.kernel.syscall(&mut self.cpus[c], &mut self.regs[c]);
        Ok(())
    }

    /// CPU `c` takes an interrupt (from user mode or from its idle loop).
    pub(crate) fn interrupt(&mut self, c: usize) {
        self.kernel
            .interrupted(&mut self.cpus[c], &mut self.regs[c]);
    }

    /// An idle CPU looks for work; a busy one is left alone.
    pub(crate) fn poll(&mut self, c: usize) {
        if self.cpus[c].current().is_none() {
            self.interrupt(c);
        }
    }

    pub(crate) fn deliver_ipis(&mut self) {
        for c in 0..self.cpus.len() {
            if self.kernel.platform.take_ipi(self.cpus[c].id) {
                self.interrupt(c);
            }
        }
    }

    /// Every invariant of the kernel, and of the simulated machine.
    pub(crate) fn check(&self) -> Result<(), String> {
        self.kernel.check_invariants(&self.cpus)?;
        match self.kernel.platform.errors().first() {
            Some(e) => Err(format!("platform misuse: {e}")),
            None => Ok(()),
        }
    }
}
