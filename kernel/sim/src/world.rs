//! The simulated system: N CPUs, M programs, a seeded scheduler of steps, fault injection, and
//! the invariant checks run after every step.
//!
//! A step is one of: a user step on a CPU (its current program consumes the result of its
//! last invocation and issues the next `syscall`), a timer tick, a burst of IRQs, a memory
//! access (through the modelled TLB, or a page fault), a delivered IPI, an idle CPU polling, or an injected fault (halt, resume, destroy
//! and replace a process). The kernel runs each entry to completion; interleaving is between
//! entries, as on a machine whose locks serialise conflicting paths.

use std::collections::BTreeMap;

use tessera_core::{Cap, Cpu, Exit, Kernel, ObjId};

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
            77..=82 => self.user_access(c),
            83..=88 => self.inject_fault()?,
            _ => self.deliver_ipis(),
        }
        Ok(())
    }

    /// The current program of CPU `c` runs until its next `syscall`, touching its memory on
    /// the way half of the time.
    pub(crate) fn user_step(&mut self, c: usize) -> Result<(), String> {
        let Some(p) = self.cpus[c]
            .current()
            .and_then(|id| self.by_id.get(&id).copied())
        else {
            self.poll(c);
            return Ok(());
        };
        if self.rng.chance(1, 2) {
            self.user_access(c);
        }
        let reply = self.regs[c].reply();
        self.progs[p].consume(p, &reply, &mut self.ledger)?;
        let inv = match self.progs[p].role {
            Role::Server => self.progs[p].server_step(&mut self.rng),
            Role::Client => self.progs[p].client_step(p, &mut self.rng, &mut self.ledger),
        };
        self.regs[c].load(&inv);
        self.in_kernel(c, |s| s.kernel.syscall(&mut s.cpus[c], &mut s.regs[c]));
        Ok(())
    }

    /// CPU `c` takes an interrupt (from user mode or from its idle loop).
    pub(crate) fn interrupt(&mut self, c: usize) {
        self.in_kernel(c, |s| s.kernel.interrupted(&mut s.cpus[c], &mut s.regs[c]));
    }

    /// CPU `c` enters the kernel, runs `f`, and leaves for what its exit says; the machine's
    /// MMU model follows (TLB flushes, frames in limbo).
    fn in_kernel(&mut self, c: usize, f: impl FnOnce(&mut Sim) -> Exit) {
        self.kernel.platform.kernel_entered(c);
        let space = match f(self) {
            Exit::User { space, .. } => space,
            Exit::Idle => None,
        };
        self.kernel.platform.user_entered(c, space);
    }

    /// The program running on CPU `c` touches one of its first pages; with nothing derived
    /// for it, that is a page fault the kernel resolves (installing the entry) or refuses
    /// (where the arch would halt the program; here it goes on).
    fn user_access(&mut self, c: usize) {
        let vpn = self.rng.below(u64::from(crate::program::slot::PAGE_COUNT) + 2);
        let platform = &self.kernel.platform;
        let Some(space) = platform.user_space(c) else {
            return;
        };
        if platform.touch(c, vpn).is_some() {
            return;
        }
        platform.kernel_entered(c);
        let resolved = self.kernel.resolve_fault(&mut self.cpus[c], vpn).is_ok();
        platform.user_entered(c, Some(space));
        if resolved {
            platform.touch(c, vpn);
        }
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
        self.kernel
            .platform
            .check_mmu(&self.kernel)
            .map_err(|e| format!("MMU: {e}"))?;
        match self.kernel.platform.errors().first() {
            Some(e) => Err(format!("platform misuse: {e}")),
            None => Ok(()),
        }
    }
}
