//! The end of a run: stop faults and new work, resume everything, run until every CPU is idle,
//! then check that every accepted message was delivered and every call to a live server
//! answered.

use tessera_abi::{order, CapType};
use tessera_core::Cap;

use crate::program::Pending;
use crate::world::Sim;

impl Sim {
    /// Stops faults and new work, resumes everything, runs until every CPU is idle, and checks
    /// that every accepted message was delivered and every call answered.
    pub(crate) fn drain(&mut self) -> Result<(), String> {
        for p in 0..self.progs.len() {
            self.progs[p].draining = true;
            self.resume(p)?;
        }
        let mut quiet_rounds = 0;
        for _ in 0..20_000 {
            self.deliver_ipis()?;
            // A keeper resumed above may have re-run its HALT in an IPI's entry: the record
            // learns of that halt only at a check before the keeper sees the HALT's result.
            self.check()?;
            for c in 0..self.cpus.len() {
                if let Some(e) = self.user_step(c)? {
                    self.alone(c, e)?;
                }
                self.check()?;
            }
            // A keeper's HALT re-run when the keeper was resumed lands in the drain.
            for p in 0..self.progs.len() {
                if self.progs[p].halted {
                    self.resume(p)?;
                }
            }
            // An IPI still pending means work was queued for a CPU after it last looked (a
            // process pinned there, which no other CPU may take).
            let idle = self
                .cpus
                .iter()
                .all(|c| c.current().is_none() && !self.kernel.platform.ipi_pending(c.id));
            quiet_rounds = if idle { quiet_rounds + 1 } else { 0 };
            if quiet_rounds == 2 {
                return self.final_check();
            }
        }
        Err(String::from(
            "the system did not go quiet after the drain (lost wake-up or livelock)",
        ))
    }

    /// RESUME of program `p`, if alive, judged against the record.
    fn resume(&mut self, p: usize) -> Result<(), String> {
        if !self.progs[p].alive {
            return Ok(());
        }
        let cap = Cap::new(CapType::Process, self.progs[p].id);
        let r = self
            .kernel
            .kernel_invoke(&mut self.cpus[0], cap, order::process::RESUME, &[], &[]);
        self.judge(p, order::process::RESUME, Some(r.map(|_| ())))
    }

    fn final_check(&self) -> Result<(), String> {
        for c in &self.cpus {
            let pending = self.kernel.pending_irqs(c.id);
            if pending != 0 {
                return Err(format!(
                    "IRQ lines {pending:#x} of {:?} were never posted",
                    c.id
                ));
            }
        }
        let alive = |i: usize| self.progs.get(i).is_some_and(|p| p.alive);
        self.ledger.check_complete(alive)?;
        let whole = |i: usize| self.progs.get(i).is_some_and(|p| p.alive && p.whole);
        self.ledger.check_notified(whole, alive)?;
        self.check_faults_over()?;
        for (i, p) in self.progs.iter().enumerate().filter(|(_, p)| p.alive) {
            let done = match p.pending {
                None | Some(Pending::Wait | Pending::KeeperWait) => true,
                Some(Pending::Call { id }) => !alive(self.ledger.target_of(id)),
                Some(_) => false,
            };
            if !done {
                return Err(format!("program {i} ended with {:?} unfinished", p.pending));
            }
        }
        Ok(())
    }
}
