//! The simulated system: N CPUs, M programs, a seeded scheduler of steps, fault injection, and
//! the invariant checks run after every step.
//!
//! A step is one of: a user step on a CPU (its current program consumes the result of its
//! last invocation and issues the next `syscall`), a timer tick, a burst of IRQs, a page
//! fault, a delivered IPI, an idle CPU polling, or an injected fault (halt, resume, destroy
//! and replace a process). The kernel runs each entry to completion; interleaving is between
//! entries, as on a machine whose locks serialise conflicting paths.

use std::collections::BTreeMap;

use tessera_abi::{order, CapType, Rights};
use tessera_core::planted::PlantedBug;
use tessera_core::{Cap, Config, Cpu, Kernel, ObjId};

use crate::ledger::Ledger;
use crate::platform::{Regs, SimPlatform};
use crate::program::{slot, Pending, Program, ResumeState, Role, DRIVER_BADGE};
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
    rng: Rng,
    kernel: Kernel<SimPlatform>,
    cpus: Vec<Cpu>,
    regs: Vec<Regs>,
    progs: Vec<Program>,
    by_id: BTreeMap<ObjId, usize>,
    servers: Vec<Option<usize>>,
    root: Cap,
    ledger: Ledger,
    stats: Stats,
}

const IRQ_LINES: u32 = 4;

impl Sim {
    /// A system built from `seed`, with `bug` planted.
    pub fn new(seed: u64, bug: Option<PlantedBug>) -> Result<Sim, String> {
        let mut rng = Rng::new(seed);
        let ncpus = 1 + rng.index(4);
        let config = Config {
            cpus: ncpus,
            processes: 24,
            banks: 24,
            pages: 96,
            spaces: 24,
            cap_pages: 24,
            irq_lines: IRQ_LINES as usize,
            post_activities: 1 + rng.below(4) as u32,
            page_tables: 4,
        };
        let kernel = Kernel::new(SimPlatform::new(8 + rng.below(16)), config);
        kernel.plant(bug);
        let root = kernel.boot_bank(1000).ok_or("no boot bank")?;
        let cpus = kernel.cpu_ids().map(Cpu::new).collect();
        let mut sim = Sim {
            rng,
            kernel,
            cpus,
            regs: vec![Regs::default(); ncpus],
            progs: Vec::new(),
            by_id: BTreeMap::new(),
            servers: Vec::new(),
            root,
            ledger: Ledger::default(),
            stats: Stats::default(),
        };
        let nservers = 1 + sim.rng.index(3);
        let nclients = 2 + sim.rng.index(5);
        for s in 0..nservers {
            let p = sim.spawn(Role::Server)?;
            sim.servers.push(Some(p));
            sim.progs[p].server = Some(s);
        }
        for _ in 0..nclients {
            sim.spawn(Role::Client)?;
        }
        let driver = sim.progs[sim.servers[0].ok_or("no driver")?].id;
        let ep = sim.call(
            Cap::new(CapType::Process, driver),
            order::process::MAKE_ENDPOINT,
            &[DRIVER_BADGE],
            &[],
        )?;
        for line in 0..IRQ_LINES {
            let irq = sim.kernel.irq_cap(line).ok_or("no IRQ line")?;
            sim.call(irq, order::irq::BIND, &[], &[ep])?;
        }
        for c in 0..sim.cpus.len() {
            sim.poll(c);
        }
        Ok(sim)
    }

    /// Runs a kernel-object order from the kernel itself on CPU 0 (setup and fault injection).
    fn call(&mut self, cap: Cap, order: u32, data: &[u64], caps: &[Cap]) -> Result<Cap, String> {
        let r = self
            .kernel
            .kernel_invoke(&mut self.cpus[0], cap, order, data, caps);
        r.map(|(_, c)| c.unwrap_or(Cap::NULL))
            .map_err(|e| format!("setup order {order} on {cap:?}: {e:?}"))
    }

    /// Creates, equips and starts a program.
    fn spawn(&mut self, role: Role) -> Result<usize, String> {
        let me = self.progs.len();
        let root = self.root;
        let proc = self.call(root, order::bank::CREATE, &[CapType::Process as u64], &[])?;
        let bank = match role {
            Role::Client => {
                self.call(root, order::bank::CREATE, &[CapType::Bank as u64, 10], &[])?
            }
            Role::Server => root,
        };
        let space = self.call(
            root,
            order::bank::CREATE,
            &[CapType::AddressSpace as u64],
            &[],
        )?;
        let cap_page = self.call(root, order::bank::CREATE, &[CapType::CapPage as u64], &[])?;
        self.call(proc, order::process::SET_SPACE, &[], &[space])?;
        let own = if role == Role::Client {
            Rights::READ
        } else {
            Rights::ALL
        };
        for (s, c, r) in [
            (slot::BANK, bank, Rights::ALL),
            (slot::SELF, proc, own),
            (slot::SPACE, space, Rights::ALL),
            (slot::CAP_PAGE, cap_page, Rights::ALL),
        ] {
            self.call(
                proc,
                order::process::SET_CAP,
                &[u64::from(s), r.raw()],
                &[c],
            )?;
        }
        let mut endpoints = Vec::new();
        for k in 0..self.servers.len() {
            if let Some(sp) = self.servers[k] {
                self.give_endpoint(proc, me, k, self.progs[sp].id)?;
            }
            endpoints.push(self.servers[k]);
        }
        let prio = self.rng.below(4);
        self.call(proc, order::process::SET_PRIORITY, &[prio], &[])?;
        self.call(
            proc,
            order::process::SET_ENTRY,
            &[0x1000, 0x8000, me as u64],
            &[],
        )?;
        self.call(proc, order::process::RESUME, &[], &[])?;
        self.progs.push(Program {
            id: proc.obj,
            role,
            alive: true,
            draining: false,
            pending: None,
            resume: ResumeState::None,
            server: None,
            endpoints,
        });
        self.by_id.insert(proc.obj, me);
        Ok(me)
    }

    /// Puts an endpoint to server number `k` (process `server`) in `client`'s space. Clients
    /// spawned later reach a replacement server; older ones keep the dead endpoint, so every
    /// message is addressed to one server instance.
    fn give_endpoint(
        &mut self,
        client: Cap,
        me: usize,
        k: usize,
        server: ObjId,
    ) -> Result<(), String> {
        let ep = self.call(
            Cap::new(CapType::Process, server),
            order::process::MAKE_ENDPOINT,
            &[me as u64 + 1],
            &[],
        )?;
        self.call(
            client,
            order::process::SET_CAP,
            &[u64::from(slot::SERVERS) + k as u64],
            &[ep],
        )?;
        Ok(())
    }

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
    fn user_step(&mut self, c: usize) -> Result<(), String> {
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
    fn interrupt(&mut self, c: usize) {
        self.kernel
            .interrupted(&mut self.cpus[c], &mut self.regs[c]);
    }

    /// An idle CPU looks for work; a busy one is left alone.
    fn poll(&mut self, c: usize) {
        if self.cpus[c].current().is_none() {
            self.interrupt(c);
        }
    }

    fn deliver_ipis(&mut self) {
        for c in 0..self.cpus.len() {
            if self.kernel.platform.take_ipi(self.cpus[c].id) {
                self.interrupt(c);
            }
        }
    }

    /// Halts, resumes, or destroys (and replaces) a random program.
    fn inject_fault(&mut self) -> Result<(), String> {
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

    /// Every invariant of the kernel, and of the simulated machine.
    fn check(&self) -> Result<(), String> {
        self.kernel.check_invariants(&self.cpus)?;
        match self.kernel.platform.errors().first() {
            Some(e) => Err(format!("platform misuse: {e}")),
            None => Ok(()),
        }
    }

    /// Stops faults and new work, resumes everything, runs until every CPU is idle, and checks
    /// that every accepted message was delivered and every call answered.
    fn drain(&mut self) -> Result<(), String> {
        for p in 0..self.progs.len() {
            self.progs[p].draining = true;
            if self.progs[p].alive {
                let cap = Cap::new(CapType::Process, self.progs[p].id);
                let _ = self.kernel.kernel_invoke(
                    &mut self.cpus[0],
                    cap,
                    order::process::RESUME,
                    &[],
                    &[],
                );
            }
        }
        let mut quiet_rounds = 0;
        for _ in 0..20_000 {
            self.deliver_ipis();
            for c in 0..self.cpus.len() {
                self.user_step(c)?;
                self.check()?;
            }
            let idle = self.cpus.iter().all(|c| c.current().is_none());
            quiet_rounds = if idle { quiet_rounds + 1 } else { 0 };
            if quiet_rounds == 2 {
                return self.final_check();
            }
        }
        Err(String::from(
            "the system did not go quiet after the drain (lost wake-up or livelock)",
        ))
    }

    fn final_check(&self) -> Result<(), String> {
        let alive = |i: usize| self.progs.get(i).is_some_and(|p| p.alive);
        self.ledger.check_complete(alive)?;
        for (i, p) in self.progs.iter().enumerate().filter(|(_, p)| p.alive) {
            let done = match p.pending {
                None | Some(Pending::Wait) => true,
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
