//! Fault injection: halting, resuming, re-prioritising, and destroying (then replacing) random
//! programs and their address spaces, from the kernel itself, between any two steps. A
//! destroyed driver's replacement gets the IRQ lines rebound to it.

use tessera_abi::{order, CapType};
use tessera_core::Cap;

use crate::program::DRIVER_BADGE;
use crate::world::{Sim, IRQ_LINES};

impl Sim {
    /// Halts, resumes, re-prioritises or destroys (and replaces) a random program.
    pub(crate) fn inject_fault(&mut self) -> Result<(), String> {
        self.stats.faults += 1;
        let p = self.rng.index(self.progs.len());
        if !self.progs[p].alive {
            return Ok(());
        }
        let cap = Cap::new(CapType::Process, self.progs[p].id);
        let (order, data) = match self.rng.below(12) {
            0..=4 => (order::process::HALT, 0),
            5..=8 => (order::process::RESUME, 0),
            9 | 10 => (order::process::SET_PRIORITY, self.rng.below(4)),
            _ => return self.destroy(p),
        };
        let r = self
            .kernel
            .kernel_invoke(&mut self.cpus[0], cap, order, &[data], &[]);
        match r {
            Ok(_) | Err(tessera_abi::Error::BadState) => Ok(()),
            Err(e) => Err(format!("order {order} on live program {p} failed: {e:?}")),
        }
    }

    /// Destroys program `p` and starts a replacement in the same role.
    fn destroy(&mut self, p: usize) -> Result<(), String> {
        if self.progs.len() >= 16 {
            return Ok(());
        }
        let victim = Cap::new(CapType::Process, self.progs[p].id);
        self.call(self.root, order::bank::DESTROY, &[], &[victim])?;
        let space = Cap::new(CapType::AddressSpace, self.progs[p].space);
        self.call(self.root, order::bank::DESTROY, &[], &[space])?;
        self.progs[p].alive = false;
        if let Some(k) = self.progs[p].server {
            self.servers[k] = None;
        }
        let role = self.progs[p].role;
        let q = self.spawn(role)?;
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
        }
        Ok(())
    }
}
