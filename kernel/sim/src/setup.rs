//! Building a simulated system from a seed: the kernel, its CPUs, and the programs, each
//! created and equipped through the same kernel-object orders user code would use.

use tessera_abi::{order, CapType, Rights};
use tessera_core::planted::PlantedBug;
use tessera_core::{Cap, Config, Cpu, Kernel, ObjId};

use crate::exceptions::FaultLog;
use crate::ledger::Ledger;
use crate::platform::SimPlatform;
use crate::program::{slot, Program, ResumeState, Role, DRIVER_BADGE, KEEPER_BADGE, NOTIFY_BADGE};
use crate::rng::Rng;
use crate::world::{Sim, Stats, IRQ_LINES};
use std::collections::BTreeMap;
use std::sync::Arc;
use tessera_core::model_regs::ModelRegs;

use crate::turns::Workers;

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
            alarms: 24,
        };
        let kernel = Arc::new(Kernel::new(
            SimPlatform::new(8 + rng.below(16), ncpus),
            config,
        ));
        kernel.plant(bug);
        let root = kernel.boot_bank(1000).ok_or("no boot bank")?;
        let cpus = kernel.cpu_ids().map(Cpu::new).collect();
        let mut sim = Sim {
            rng,
            kernel,
            cpus,
            regs: vec![ModelRegs::default(); ncpus],
            progs: Vec::new(),
            by_id: BTreeMap::new(),
            servers: Vec::new(),
            root,
            ledger: Ledger::default(),
            faults: FaultLog::new(),
            to_no_keeper: Vec::new(),
            stats: Stats::default(),
            workers: None,
            transcript: None,
        };
        let nservers = 1 + sim.rng.index(3);
        let nclients = 2 + sim.rng.index(5);
        for s in 0..nservers {
            let p = sim.spawn(Role::Server)?;
            sim.servers.push(Some(p));
            sim.progs[p].server = Some(s);
        }
        for _ in 0..nclients {
            let p = sim.spawn(Role::Client)?;
            if sim.rng.chance(1, 2) {
                sim.give_keeper(p)?;
            }
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
            sim.give_irq(driver, line, irq)?;
        }
        if ncpus > 1 {
            let seed = sim.rng.next_u64();
            sim.workers = Some(Workers::start(&sim.kernel, ncpus, seed));
        }
        for c in 0..sim.cpus.len() {
            sim.poll(c)?;
        }
        Ok(sim)
    }

    /// Runs a kernel-object order from the kernel itself on CPU 0 (setup and fault injection).
    pub(crate) fn call(
        &mut self,
        cap: Cap,
        order: u32,
        data: &[u64],
        caps: &[Cap],
    ) -> Result<Cap, String> {
        let r = self
            .kernel
            .kernel_invoke(&mut self.cpus[0], cap, order, data, caps);
        r.map(|(_, c)| c.unwrap_or(Cap::NULL))
            .map_err(|e| format!("setup order {order} on {cap:?}: {e:?}"))
    }

    /// Gives the driver process `driver` IRQ line `line`'s capability, to ACK it.
    pub(crate) fn give_irq(&mut self, driver: ObjId, line: u32, irq: Cap) -> Result<(), String> {
        let slot = u64::from(slot::IRQS) + u64::from(line);
        self.call(
            Cap::new(CapType::Process, driver),
            order::process::SET_CAP,
            &[slot, Rights::ALL.raw()],
            &[irq],
        )
        .map(|_| ())
    }

    /// Creates, equips and starts a program.
    pub(crate) fn spawn(&mut self, role: Role) -> Result<usize, String> {
        let me = self.progs.len();
        let root = self.root;
        let proc = self.call(root, order::bank::CREATE, &[CapType::Process as u64], &[])?;
        let bank = match role {
            Role::Client => {
                self.call(root, order::bank::CREATE, &[CapType::Bank as u64, 10], &[])?
            }
            Role::Server | Role::Keeper => root,
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
        if role == Role::Client {
            let alarm = self.call(root, order::bank::CREATE, &[CapType::Alarm as u64], &[])?;
            self.call(
                proc,
                order::process::SET_CAP,
                &[u64::from(slot::ALARM)],
                &[alarm],
            )?;
        }
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
            space: space.obj,
            role,
            alive: true,
            halted: false,
            halted_by_keeper: false,
            seen: None,
            draining: false,
            pending: None,
            resume: ResumeState::None,
            server: None,
            endpoints,
            pages: 0,
            keeper: None,
            keeps: None,
            fault: None,
            stale_writes: Vec::new(),
            handling: None,
            acks: 0,
            nonblocking: false,
            whole: true,
        });
        if let (Role::Client, Some(Some(sp))) = (role, self.servers.first()) {
            let (sp, server) = (*sp, self.progs[*sp].id);
            let ep = self.call(
                Cap::new(CapType::Process, server),
                order::process::MAKE_ENDPOINT,
                &[NOTIFY_BADGE],
                &[],
            )?;
            self.call(proc, order::process::SET_NOTIFY, &[me as u64], &[ep])?;
            self.ledger.notify_to(me, sp);
        }
        self.by_id.insert(proc.obj, me);
        Ok(me)
    }

    /// Starts a keeper for program `p`: it gets a process capability to `p`, and `p`'s fault
    /// endpoint leads to it.
    pub(crate) fn give_keeper(&mut self, p: usize) -> Result<(), String> {
        let k = self.spawn(Role::Keeper)?;
        let kept = Cap::new(CapType::Process, self.progs[p].id);
        let keeper = Cap::new(CapType::Process, self.progs[k].id);
        self.call(
            keeper,
            order::process::SET_CAP,
            &[u64::from(slot::KEPT), Rights::ALL.raw()],
            &[kept],
        )?;
        let ep = self.call(keeper, order::process::MAKE_ENDPOINT, &[KEEPER_BADGE], &[])?;
        self.call(kept, order::process::SET_FAULT_ENDPOINT, &[], &[ep])?;
        self.progs[k].keeps = Some(p);
        self.progs[p].keeper = Some(k);
        Ok(())
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
}
