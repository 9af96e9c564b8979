//! Fault injection: halting, resuming, and destroying (then replacing) random programs, from
//! the kernel itself, between any two steps.

use tessera_abi::{order, CapType};
use tessera_core::Cap;

use crate::world::Sim;

impl Sim {
    /// Halts, resumes, or destroys (and replaces) a random program.
    pub(crate) fn inject_fault(&mut self) -> Result<(), String> {
        self.stats.faults += 1;
        let p = self.rng.index(self.progs.len());
        if !self.progs[p].alive {
            return Ok(());
        }
        let cap = Cap::new(CapType::Process, self.progs[p].id);
        match self.rng.below(10) {
            0..=4 => {
                let _ = self.kernel.kernel_invoke(
                    &mut self.cpus[0],
                    cap,
                    order::process::HALT,
                    &[],
                    &[],
                );
            }
            5..=8 => {
                let _ = self.kernel.kernel_invoke(
                    &mut self.cpus[0],
                    cap,
                    order::process::RESUME,
                    &[],
                    &[],
                );
            }
            _ => self.destroy(p)?,
        }
        Ok(())
    }

    /// Destroys program `p` and starts a replacement in the same role.
    fn destroy(&mut self, p: usize) -> Result<(), String> {
        if self.progs.len() >= 16 {
            return Ok(());
        }
        let victim = Cap::new(CapType::Process, self.progs[p].id);
        self.call(self.root, order::bank::DESTROY, &[], &[victim])?;
        self.progs[p].alive = false;
        if let Some(k) = self.progs[p].server {
            self.servers[k] = None;
        }
        let role = self.progs[p].role;
        let q = self.spawn(role)?;
        if let Some(k) = self.progs[p].server {
            self.servers[k] = Some(q);
            self.progs[q].server = Some(k);
        }
        Ok(())
    }
}
