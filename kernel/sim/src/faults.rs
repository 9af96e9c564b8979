//! Fault injection: halting, resuming, halting then at once resuming, re-prioritising,
//! pinning to a CPU (or any, or one not online, which must be refused), and
//! destroying (then replacing) random programs and their address spaces, from the kernel itself on a CPU of the round, so
//! it runs interleaved with the other CPUs' entries: the target may be running on one of them,
//! re-running a stalled call, or sitting in a run or stall queue. A destroyed driver's
//! replacement gets the IRQ lines rebound to it.
//!
//! Results are judged against the simulator's record (`Program::halted`): nothing but this file
//! halts a program, so HALT of a program it has not halted must succeed, RESUME must succeed
//! exactly on the programs it halted, and (in `world.rs`) a program is halted exactly when the
//! record says so.

use tessera_abi::process::ProcessState;
use tessera_abi::{order, CapType, Error};
use tessera_core::Cap;

use crate::program::{Program, Role, DRIVER_BADGE};
use crate::turns::{Entry, Order, OrderResult};
use crate::world::{Sim, IRQ_LINES};

/// What was injected, on which program.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Injected {
    p: usize,
    what: Fault,
}

impl Injected {
    /// The program this RESUMEs (alone or after a HALT), if it does.
    pub(crate) fn resumed(&self) -> Option<usize> {
        matches!(self.what, Fault::Resume | Fault::HaltResume).then_some(self.p)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Halt,
    Resume,
    HaltResume,
    Priority,
    Affinity,
    Destroy,
}

impl Sim {
    /// A fault to inject on a random live program, as an entry of this round.
    pub(crate) fn inject_fault(&mut self) -> Option<(Injected, Entry)> {
        self.stats.faults += 1;
        let p = self.target()?;
        let cap = Cap::new(CapType::Process, self.progs[p].id);
        let on = |order: u32, data: Vec<u64>| Order {
            cap,
            order,
            data,
            caps: Vec::new(),
        };
        // Any CPU, a CPU online, or (one time in four) a CPU that is not.
        let cpu = match self.rng.below(4) {
            0 => order::process::ANY_CPU,
            1 => self.cpus.len() as u64 + self.rng.below(3),
            _ => self.rng.below(self.cpus.len() as u64),
        };
        let (what, orders) = match self.rng.below(16) {
            0..=3 => (Fault::Halt, vec![on(order::process::HALT, vec![])]),
            4..=6 => (Fault::Resume, vec![on(order::process::RESUME, vec![])]),
            7..=9 => (
                Fault::HaltResume,
                vec![
                    on(order::process::HALT, vec![]),
                    on(order::process::RESUME, vec![]),
                ],
            ),
            10 | 11 => (
                Fault::Priority,
                vec![on(order::process::SET_PRIORITY, vec![self.rng.below(4)])],
            ),
            12 | 13 => (
                Fault::Affinity,
                vec![on(order::process::SET_AFFINITY, vec![cpu])],
            ),
            _ if self.progs.len() < 16 => (
                Fault::Destroy,
                vec![Order {
                    cap: self.root,
                    order: order::bank::DESTROY,
                    data: Vec::new(),
                    caps: vec![cap],
                }],
            ),
            _ => return None,
        };
        Some((Injected { p, what }, Entry::Orders(orders)))
    }

    /// A live program to aim a fault at: a third of the time one running on a CPU, a third
    /// one waiting in a run queue or a stall queue (as last seen), else any.
    fn target(&mut self) -> Option<usize> {
        let aim = self.rng.below(3);
        let fits = |p: &Program| {
            let Some(i) = p.seen.filter(|_| p.alive) else {
                return false;
            };
            match aim {
                0 => i.cpu.is_some(),
                1 => {
                    i.state == ProcessState::Stalled
                        || (i.state == ProcessState::Running && i.cpu.is_none())
                }
                _ => true,
            }
        };
        let fit: Vec<usize> = (0..self.progs.len())
            .filter(|&p| fits(&self.progs[p]))
            .collect();
        if !fit.is_empty() {
            return Some(fit[self.rng.index(fit.len())]);
        }
        let p = self.rng.index(self.progs.len());
        self.progs[p].alive.then_some(p)
    }

    /// Judges the results of injected fault `f` and updates the record.
    pub(crate) fn injected_done(
        &mut self,
        f: Injected,
        results: &[OrderResult],
    ) -> Result<(), String> {
        let p = f.p;
        let got = |i: usize| results.get(i).map(|r| r.map(|_| ()));
        match f.what {
            Fault::Halt => self.judge(p, order::process::HALT, got(0)),
            Fault::Resume => self.judge(p, order::process::RESUME, got(0)),
            Fault::HaltResume => {
                self.judge(p, order::process::HALT, got(0))?;
                self.judge(p, order::process::RESUME, got(1))
            }
            Fault::Priority => match got(0) {
                Some(Ok(()) | Err(Error::BadState)) => Ok(()),
                r => Err(format!("SET_PRIORITY on live program {p} gave {r:?}")),
            },
            Fault::Affinity => match got(0) {
                Some(Ok(()) | Err(Error::InvalidArgument)) => Ok(()),
                r => Err(format!("SET_AFFINITY on live program {p} gave {r:?}")),
            },
            Fault::Destroy => match got(0) {
                Some(Ok(())) => self.replace(p),
                r => Err(format!("DESTROY of live program {p} gave {r:?}")),
            },
        }
    }

    /// HALT or RESUME (`o`) of live program `p` gave `r`: HALT succeeds exactly when the
    /// simulator has not halted it, RESUME exactly when it has.
    pub(crate) fn judge(
        &mut self,
        p: usize,
        o: u32,
        r: Option<Result<(), Error>>,
    ) -> Result<(), String> {
        let halted = self.progs[p].halted;
        let halt = o == order::process::HALT;
        // The kernel or its keeper may have halted it this round (`halt_unseen`), which the
        // record learns only at the next check.
        let faulted = self.halt_unseen(p);
        match (r, halt != halted) {
            (Some(Ok(())), true) => {
                // Halted, or resumed after a halt (perhaps one from before its fault, which then
                // found it halted): a fault not over may end either way.
                self.progs[p].halted = halt;
                self.fault_halted(p);
                Ok(())
            }
            (Some(Err(Error::BadState)), false) => Ok(()),
            // Halted already by the kernel or its keeper; or, for RESUME, not yet halted by
            // the fault that the record took in this round.
            (Some(Err(Error::BadState)), true) if faulted => Ok(()),
            // HALT: halted before the fault that the record took in this round found it
            // halted. RESUME: resumed after the kernel or its keeper halted it.
            (Some(Ok(())), false) if faulted => {
                self.fault_halted(p);
                Ok(())
            }
            (r, _) => Err(format!(
                "{} of program {p} (halted by the simulator: {halted}) gave {r:?}",
                if halt { "HALT" } else { "RESUME" }
            )),
        }
    }

    /// Program `p` was destroyed: destroy its address space too, and start a replacement in
    /// the same role.
    fn replace(&mut self, p: usize) -> Result<(), String> {
        let space = Cap::new(CapType::AddressSpace, self.progs[p].space);
        self.call(self.root, order::bank::DESTROY, &[], &[space])?;
        self.progs[p].alive = false;
        self.progs[p].halted = false;
        if let Some(k) = self.progs[p].server {
            self.servers[k] = None;
        }
        let role = self.progs[p].role;
        // Half the time a destroyed keeper is not replaced: the program it kept keeps a dead
        // fault endpoint, and its faults must halt it.
        if let Some(kept) = self.progs[p].keeps.filter(|&k| self.progs[k].alive) {
            if self.rng.chance(1, 2) {
                return self.give_keeper(kept);
            }
            return Ok(());
        }
        if role == Role::Keeper {
            return Ok(());
        }
        let q = self.spawn(role)?;
        if role == Role::Client && self.rng.chance(1, 2) {
            self.give_keeper(q)?;
        }
        if let Some(k) = self.progs[p].server {
            self.servers[k] = Some(q);
            self.progs[q].server = Some(k);
            if k == 0 {
                self.rebind_irqs(q)?;
            }
        }
        Ok(())
    }

    /// Points every IRQ line at program `driver`'s endpoint.
    fn rebind_irqs(&mut self, driver: usize) -> Result<(), String> {
        let proc = Cap::new(CapType::Process, self.progs[driver].id);
        let ep = self.call(proc, order::process::MAKE_ENDPOINT, &[DRIVER_BADGE], &[])?;
        for line in 0..IRQ_LINES {
            let irq = self.kernel.irq_cap(line).ok_or("no IRQ line")?;
            self.call(irq, order::irq::UNBIND, &[], &[])?;
            self.call(irq, order::irq::BIND, &[], &[ep])?;
            self.give_irq(proc.obj, line, irq)?;
        }
        Ok(())
    }
}
