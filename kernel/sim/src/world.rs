//! The simulated system: N CPUs, M programs, a seeded scheduler of rounds, fault injection, and
//! the invariant checks run after every round.
//!
//! A round is one kernel entry on one CPU, or (on several CPUs, a quarter of the rounds) an entry on
//! each of several CPUs at once, interleaved inside the kernel at every lock operation
//! (`turns.rs`). An entry is: a user step (the CPU's current program, touching its memory half
//! of the time through the modelled TLB, consumes the result of its last invocation and issues
//! the next `syscall`), an interrupt after a timer tick, a burst of IRQs or an IPI, a page fault
//! on a memory access, or an injected fault (halt, resume, halt then resume, re-prioritise,
//! destroy and replace a process: `faults.rs`). After the round every CPU is outside the kernel,
//! and the invariants are checked.

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_abi::process::{ProcessInfo, ProcessState};
use tessera_abi::{order, CapType};
use tessera_core::keeper::Faulted;
use tessera_core::{Cap, Cpu, Kernel, ObjId, Platform};

use crate::exceptions::FaultLog;
use crate::faults::Injected;
use crate::ledger::Ledger;
use crate::platform::SimPlatform;
use crate::program::{Program, Role};
use crate::rng::Rng;
use crate::turns::{Entry, Job, OrderResult, Workers};
use tessera_core::model_regs::ModelRegs;

/// What a run did (to show the runs are not vacuous).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub steps: u64,
    pub delivered: u64,
    pub irqs: u64,
    /// Alarm POSTs received.
    pub alarms: u64,
    pub faults: u64,
    /// Rounds in which two or more CPUs were inside the kernel together.
    pub together: u64,
    /// Faults the programs took in user mode (`exceptions.rs`).
    pub user_faults: u64,
    /// Fault messages keepers received.
    pub kept: u64,
    /// Non-blocking invocations that got `WouldBlock`, and notifications received.
    pub wouldblocks: u64,
    pub notifications: u64,
}

/// One simulated system.
pub struct Sim {
    pub(crate) rng: Rng,
    pub(crate) kernel: Arc<Kernel<SimPlatform>>,
    pub(crate) cpus: Vec<Cpu>,
    pub(crate) regs: Vec<ModelRegs>,
    pub(crate) progs: Vec<Program>,
    pub(crate) by_id: BTreeMap<ObjId, usize>,
    pub(crate) servers: Vec<Option<usize>>,
    pub(crate) root: Cap,
    pub(crate) ledger: Ledger,
    /// Every fault the programs took, and what became of it.
    pub(crate) faults: FaultLog,
    /// Programs whose fault this round went to a keeper they do not have (judged after the
    /// round's injected orders).
    pub(crate) to_no_keeper: Vec<usize>,
    pub(crate) stats: Stats,
    /// The CPU threads, with two or more CPUs.
    pub(crate) workers: Option<Workers>,
    /// What the programs saw, when recorded (`transcript`): every reply a program consumed and
    /// every program's `INFO` at each quiescent point.
    pub(crate) transcript: Option<Vec<String>>,
}

pub(crate) const IRQ_LINES: u32 = 4;
/// A program about to make a `syscall` takes a fault instead one time in this many.
const FAULT_ONE_IN: u64 = 24;

impl Sim {
    /// Runs `steps` random rounds, then drains; checks invariants after every round.
    pub fn run(mut self, steps: u64) -> Result<Stats, String> {
        self.run_steps(steps)?;
        Ok(self.stats)
    }

    /// Runs like `run` with the kernel's fast paths on or off, recording what the programs
    /// saw. Returns the CPU count, the system calls the fast paths ran, and the transcript.
    pub fn transcript(
        mut self,
        steps: u64,
        fast_paths: bool,
    ) -> Result<(usize, u64, Vec<String>), String> {
        self.kernel.set_fast_paths(fast_paths);
        self.transcript = Some(Vec::new());
        self.run_steps(steps)?;
        let fast = self.cpus.iter().map(Cpu::fast_runs).sum();
        Ok((self.cpus.len(), fast, self.transcript.unwrap_or_default()))
    }

    fn run_steps(&mut self, steps: u64) -> Result<(), String> {
        for _ in 0..steps {
            self.step()?;
            self.check()?;
        }
        self.drain()?;
        self.stats.delivered = self.ledger.delivered;
        self.stats.irqs = self.ledger.irqs;
        self.stats.alarms = self.ledger.alarms_fired;
        self.stats.wouldblocks = self.ledger.wouldblocks;
        self.stats.notifications = self.ledger.notifications;
        Ok(())
    }

    fn step(&mut self) -> Result<(), String> {
        self.stats.steps += 1;
        self.kernel.platform.advance_clock(self.rng.below(200));
        self.ledger.now = self.kernel.platform.now_ns();
        let mut entries = Vec::new();
        let mut injected = None;
        if self.workers.is_some() && self.rng.chance(1, 4) {
            // Half these rounds inject a fault on one CPU while the others run their entries.
            let injector = self
                .rng
                .chance(1, 2)
                .then(|| self.rng.index(self.cpus.len()));
            let mut planned: Vec<Option<Entry>> = vec![None; self.cpus.len()];
            if let Some((c, (f, e))) = injector.and_then(|c| Some((c, self.inject_fault()?))) {
                injected = Some(f);
                planned[c] = Some(e);
            }
            for (c, slot) in planned.iter_mut().enumerate() {
                if slot.is_none() && injector != Some(c) && self.rng.chance(3, 4) {
                    *slot = self.entry(c, &mut injected)?;
                }
            }
            entries.extend(
                planned
                    .into_iter()
                    .enumerate()
                    .filter_map(|(c, e)| Some((c, e?))),
            );
        } else {
            let c = self.rng.index(self.cpus.len());
            if let Some(e) = self.entry(c, &mut injected)? {
                entries.push((c, e));
            }
        }
        let results = self.round(entries)?;
        if let Some(f) = injected {
            self.injected_done(f, &results)?;
        }
        // `Kernel::fault` says where the fault left its program when it returns: a program
        // without a live keeper was halted, unless a RESUME on another CPU came in between.
        for p in std::mem::take(&mut self.to_no_keeper) {
            if injected.and_then(|f| f.resumed()) != Some(p) {
                return Err(format!(
                    "a fault of program {p}, which has no live keeper, went to a keeper"
                ));
            }
        }
        Ok(())
    }

    /// The kernel entry CPU `c` makes this round, if any (at most one injected fault a round,
    /// so the results of HALT and RESUME can be judged in order).
    fn entry(
        &mut self,
        c: usize,
        injected: &mut Option<Injected>,
    ) -> Result<Option<Entry>, String> {
        let id = self.cpus[c].id;
        Ok(Some(match self.rng.below(100) {
            0..=64 => return self.user_step(c),
            65..=72 => {
                self.kernel.timer_tick(id);
                Entry::Interrupt
            }
            73..=76 => {
                for _ in 0..1 + self.rng.below(6) {
                    let line = self.rng.below(u64::from(IRQ_LINES)) as u32;
                    // A masked line does not interrupt (a level-triggered one awaits its ACK).
                    if !self.kernel.platform.irq_masked(line) {
                        self.kernel.note_irq(id, line);
                    }
                }
                Entry::Interrupt
            }
            77..=82 => return Ok(self.user_access(c)),
            83..=88 if injected.is_none() => {
                let Some((f, e)) = self.inject_fault() else {
                    return Ok(None);
                };
                *injected = Some(f);
                e
            }
            _ if self.kernel.platform.take_ipi(id) => Entry::Interrupt,
            _ => return Ok(None),
        }))
    }

    /// Runs the entries of one round (interleaved if several), and returns the results of the
    /// orders among them. A panic inside the kernel fails the run.
    fn round(&mut self, entries: Vec<(usize, Entry)>) -> Result<Vec<OrderResult>, String> {
        let jobs: Vec<(usize, Job)> = entries
            .into_iter()
            .map(|(c, e)| {
                let id = self.cpus[c].id;
                let cpu = std::mem::replace(&mut self.cpus[c], Cpu::new(id));
                (c, Job::new(cpu, self.regs[c], e))
            })
            .collect();
        let ran = match &self.workers {
            Some(w) if jobs.len() > 1 => {
                self.stats.together += 1;
                w.round(&self.kernel, jobs)
            }
            _ => jobs
                .into_iter()
                .map(|(c, mut j)| {
                    j.run(&self.kernel);
                    (c, j)
                })
                .collect(),
        };
        let mut results = Vec::new();
        let mut panic = None;
        for (c, j) in ran {
            if let (Entry::Exception(f), Some(faulted)) = (&j.entry, j.faulted) {
                let l = self.faults.get(&f.rip).copied();
                match (faulted, l) {
                    (Faulted::ToKeeper, Some(l)) if l.keeper.is_some() => {}
                    (Faulted::Halted, Some(l)) => {
                        self.progs[l.program].halted = true;
                        self.fault_halted(l.program);
                    }
                    (Faulted::ToKeeper, Some(l)) => self.to_no_keeper.push(l.program),
                    (_, None) => return Err(format!("{f:?} was taken by no program")),
                }
            }
            self.cpus[c] = j.cpu;
            self.regs[c] = j.regs;
            results.extend(j.results);
            panic = panic.or(j.panic.map(|p| format!("CPU {c}: {p}")));
        }
        match panic {
            Some(p) => Err(p),
            None => Ok(results),
        }
    }

    /// The current program of CPU `c` consumes its last result and loads its next `syscall`;
    /// an idle CPU polls (an interrupt of its idle loop).
    pub(crate) fn user_step(&mut self, c: usize) -> Result<Option<Entry>, String> {
        let Some(p) = self.cpus[c]
            .current()
            .and_then(|id| self.by_id.get(&id).copied())
        else {
            return Ok(self.cpus[c].current().is_none().then_some(Entry::Interrupt));
        };
        self.fault_over(c, p)?;
        if self.rng.chance(1, 2) {
            if let Some(fault) = self.user_access(c) {
                self.alone(c, fault)?;
            }
        }
        let reply = self.regs[c].reply();
        if let Some(t) = self.transcript.as_mut() {
            t.push(format!("step {} program {p}: {reply:?}", self.stats.steps));
        }
        match self.progs[p].role {
            Role::Keeper => self.keeper_consume(p, &reply)?,
            _ => self.progs[p].consume(p, &reply, &mut self.ledger)?,
        }
        if !self.progs[p].draining && self.rng.chance(1, FAULT_ONE_IN) {
            return Ok(Some(self.take_fault(c, p)));
        }
        let inv = match self.progs[p].role {
            Role::Server => self.progs[p].server_step(&mut self.rng),
            Role::Client => self.progs[p].client_step(p, &mut self.rng, &mut self.ledger),
            Role::Keeper => self.keeper_step(p),
        };
        self.regs[c].load(&inv);
        Ok(Some(Entry::Syscall))
    }

    /// The program running on CPU `c` touches one of its first pages: through its CPU's
    /// modelled TLB, or else by the page fault returned (the kernel installs the entry or
    /// refuses, where the arch would halt the program; here it goes on).
    fn user_access(&mut self, c: usize) -> Option<Entry> {
        let vpn = self
            .rng
            .below(u64::from(crate::program::slot::PAGE_COUNT) + 2);
        let platform = &self.kernel.platform;
        platform.user_space(c)?;
        platform
            .touch(c, vpn)
            .is_none()
            .then_some(Entry::Fault(vpn))
    }

    /// CPU `c` makes entry `e` alone.
    pub(crate) fn alone(&mut self, c: usize, e: Entry) -> Result<(), String> {
        let id = self.cpus[c].id;
        let cpu = std::mem::replace(&mut self.cpus[c], Cpu::new(id));
        let mut j = Job::new(cpu, self.regs[c], e);
        j.run(&self.kernel);
        self.cpus[c] = j.cpu;
        self.regs[c] = j.regs;
        j.panic.map_or(Ok(()), |p| Err(format!("CPU {c}: {p}")))
    }

    /// An idle CPU looks for work; a busy one is left alone.
    pub(crate) fn poll(&mut self, c: usize) -> Result<(), String> {
        if self.cpus[c].current().is_none() {
            self.alone(c, Entry::Interrupt)?;
        }
        Ok(())
    }

    pub(crate) fn deliver_ipis(&mut self) -> Result<(), String> {
        for c in 0..self.cpus.len() {
            if self.kernel.platform.take_ipi(self.cpus[c].id) {
                self.alone(c, Entry::Interrupt)?;
            }
        }
        Ok(())
    }

    /// Every invariant of the kernel, and of the simulated machine, and the simulator's own
    /// record of halts: a program is halted exactly when the simulator halted it and has not
    /// resumed it (nothing else halts a program here), so a HALT that a kernel path overwrote
    /// is caught at the next quiescent point.
    pub(crate) fn check(&mut self) -> Result<(), String> {
        self.kernel.check_invariants(&self.cpus)?;
        self.kernel
            .platform
            .check_mmu(&self.kernel)
            .map_err(|e| format!("MMU: {e}"))?;
        if let Some(e) = self.kernel.platform.errors().first() {
            return Err(format!("platform misuse: {e}"));
        }
        for p in 0..self.progs.len() {
            if !self.progs[p].alive {
                continue;
            }
            let cap = Cap::new(CapType::Process, self.progs[p].id);
            let info = self
                .kernel
                .kernel_invoke(&mut self.cpus[0], cap, order::process::INFO, &[], &[])
                .ok()
                .and_then(|(w, _)| ProcessInfo::unpack(w))
                .ok_or_else(|| format!("INFO of live program {p} failed"))?;
            self.progs[p].seen = Some(info);
            if let Some(t) = self.transcript.as_mut() {
                t.push(format!(
                    "step {} program {p} at rest: {info:?}",
                    self.stats.steps
                ));
            }
            let halted = info.state == ProcessState::Halted;
            let by_keeper = core::mem::take(&mut self.progs[p].halted_by_keeper);
            if halted && (by_keeper || self.halt_unseen(p)) {
                // By the kernel (at a fault without a live keeper) or by its keeper, neither of
                // which the record follows.
                self.progs[p].halted = true;
                self.fault_halted(p);
            }
            if halted != self.progs[p].halted {
                return Err(format!(
                    "program {p} is {:?} but the simulator {} (a lost HALT?)",
                    info.state,
                    if self.progs[p].halted {
                        "halted it and has not resumed it"
                    } else {
                        "did not halt it"
                    }
                ));
            }
        }
        self.check_fault_registers()
    }
}
