//! `Kernel`: every kernel object table and the per-CPU shared state; the arch makes one.
//!
//! # Invariants
//! - Each table's capacity is fixed at boot (`Config`); banks' quotas are what limit creation.
//! - Every lock reachable from here is named by a `LockKey` (`LockTable` below), so the held-lock
//!   list of a CPU can release it.
//!
//! # How the arch drives it
//! 1. Boot: `Kernel::new(platform, config)` once, a `Cpu::new(id)` per CPU (kept by that CPU),
//!    `boot_bank`, `irq_cap`, then the first processes through `kernel_invoke` with the orders
//!    user code would use (bank CREATE; process SET_SPACE, SET_CAP, SET_ENTRY, RESUME).
//! 2. Every CPU then calls `exit(cpu, frame)`: `Exit::User { process, space }` says whose
//!    registers are now in `frame` and which address space to switch to; `Exit::Idle` says
//!    halt with interrupts enabled.
//! 3. On `syscall`: save the user registers in `frame`, `syscall(cpu, frame)`, then as in 2.
//! 4. An interrupt handler calls `note_irq` or `timer_tick` (a device line before its
//!    acknowledge, so a level-triggered one is masked first); if it interrupted user mode it
//!    continues with `interrupted(cpu, frame, space)`, if the idle loop with `exit`, then as
//!    in 2; if it interrupted the kernel, what it noted is seen at the next exit.
//! 5. A user page fault: `resolve_fault(cpu, vpn)` finds the frame, rights and the derived leaf
//!    page table, and has the platform install the entry (`Platform::mapping_derived`; upper
//!    table levels are the arch's own) while it holds the locks that make it valid; on an
//!    error, and for every other exception in user mode, the arch calls `fault(cpu, frame,
//!    fault)` with the registers at the fault (`keeper.rs`: to the process's keeper, or it is
//!    halted), then as in 2.
//!
//! Entry points are in `kernel_entry.rs`, the scheduler in `scheduler.rs`, the invocation paths in
//! `invoke/`, the kernel-object orders in `orders/`.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::cap::{Cap, ObjId};
use crate::cpu::PerCpu;
use crate::derived_tables::DerivedTables;
use crate::lock_key::{LockKey, LockKind};
use crate::object::alarm::Alarm;
use crate::object::bank::Bank;
use crate::object::memory::{CapPage, IrqLine, Page, Space};
use crate::object::process::Process;
use crate::platform::Platform;
use crate::post::PostPool;
use crate::save_areas::SaveAreas;
use crate::stall_queue::StallNodes;
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use crate::sync::{CpuId, LockTable, MrowLock, Transactions, Turn, MAX_CPUS};
use crate::table::{Guarded, Table};
use tessera_abi::CapType;

// The ABI's priority range is the scheduler's.
const _: () =
    assert!(tessera_abi::process::PRIORITY_LEVELS as usize == crate::run_queue::PRIORITY_LEVELS);

/// Sizes fixed at boot.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// CPUs in use (at most `MAX_CPUS`).
    pub cpus: usize,
    /// Process table size.
    pub processes: usize,
    /// Bank table size.
    pub banks: usize,
    /// Page table (the object table of pages) size.
    pub pages: usize,
    /// Address-space table size.
    pub spaces: usize,
    /// Capability-page table size.
    pub cap_pages: usize,
    /// IRQ lines (at most 64: one bit each in `pendingIRQs`).
    pub irq_lines: usize,
    /// Post activities each process has (`post.rs`).
    pub post_activities: u32,
    /// Derived page-table frames the cleaner's cache holds.
    pub page_tables: usize,
    /// Alarm table size.
    pub alarms: usize,
}

/// The kernel.
pub struct Kernel<P: Platform> {
    /// The machine.
    pub platform: P,
    pub(crate) processes: Table<Process>,
    /// Each process slot's registers, owned by the CPU running the process or else by the
    /// holder of its lock (`save_areas.rs`).
    pub saves: SaveAreas<P::SaveArea>,
    pub(crate) banks: Table<Bank>,
    pub(crate) pages: Table<Page>,
    pub(crate) spaces: Table<Space>,
    pub(crate) cap_pages: Table<CapPage>,
    pub(crate) alarms: Table<Alarm>,
    pub(crate) irqs: Box<[Guarded<IrqLine>]>,
    /// Post activities: atomics and leaf locks only, no lock of their own (`post.rs`).
    pub(crate) posts: PostPool,
    /// Every waiter's node in the sender queues: each process's, then each post activity's.
    /// Reached only under the lock of the queue a node is in (`stall_queue.rs`).
    pub(crate) stall_nodes: StallNodes,
    /// Who registered each notification request (`notify.rs`). Leaf locks.
    pub(crate) requests: crate::notify::Requests,
    /// Derived page tables, keyed by (space, vpn / 512). Leaf lock (level 4).
    pub(crate) page_tables: DerivedTables,
    pub(crate) cpus: Box<[PerCpu]>,
    pub(crate) txns: Transactions,
    next_home: AtomicU32,
    /// Stamps stalls and queued posts in arrival order (FIFO is checked against it).
    stamps: AtomicU64,
    /// Whether system calls try the fast paths (`invoke/fastpath.rs`) first. Always on but in
    /// the differential tests, which run the same worlds without them and compare.
    pub(crate) fast_paths: AtomicBool,
    #[cfg(feature = "planted-bugs")]
    pub(crate) planted: crate::planted::Switch,
}

impl<P: Platform> Kernel<P> {
    /// A kernel with empty tables. Panics on a configuration the kernel cannot honour (more
    /// CPUs than `MAX_CPUS`, more than 64 IRQ lines): a boot-time bug, not user input.
    pub fn new(platform: P, config: Config) -> Kernel<P> {
        assert!(
            config.cpus >= 1 && config.cpus <= MAX_CPUS,
            "unsupported CPU count"
        );
        assert!(config.irq_lines <= 64, "pendingIRQs has 64 bits");
        let posts = PostPool::new(
            config.processes,
            config.post_activities,
            config.irq_lines,
            config.alarms,
        );
        let activities = posts.activities();
        Kernel {
            platform,
            processes: Table::new(config.processes),
            saves: SaveAreas::new(config.processes),
            banks: Table::new(config.banks),
            pages: Table::new(config.pages),
            spaces: Table::new(config.spaces),
            cap_pages: Table::new(config.cap_pages),
            alarms: Table::new(config.alarms),
            irqs: (0..config.irq_lines)
                .map(|_| Guarded::new(IrqLine::default()))
                .collect(),
            posts,
            stall_nodes: StallNodes::new(config.processes + activities, config.processes),
            requests: crate::notify::Requests::new(activities),
            page_tables: DerivedTables::new(config.spaces, config.page_tables),
            cpus: (0..config.cpus)
                .map(|_| PerCpu::new(config.processes, activities, config.alarms))
                .collect(),
            txns: Transactions::new(),
            next_home: AtomicU32::new(0),
            stamps: AtomicU64::new(1),
            fast_paths: AtomicBool::new(true),
            #[cfg(feature = "planted-bugs")]
            planted: crate::planted::Switch::default(),
        }
    }

    /// How many CPUs the kernel runs on.
    pub fn cpu_count(&self) -> usize {
        self.cpus.len()
    }

    /// Every CPU in use.
    pub fn cpu_ids(&self) -> impl Iterator<Item = CpuId> + '_ {
        (0..self.cpus.len()).filter_map(CpuId::new)
    }

    /// An all-rights capability to the platform's I/O-port range `range` (made at boot only;
    /// which ports a range holds is the platform's business).
    pub fn io_ports_cap(&self, range: u32) -> Cap {
        Cap::new(
            CapType::IoPorts,
            ObjId {
                index: range,
                generation: 1,
            },
        )
    }

    /// A boot bank of `quota` units, and an all-rights capability to it. `None` if the bank
    /// table is full. Called before any CPU runs processes.
    pub fn boot_bank(&self, quota: u64) -> Option<Cap> {
        let id = self.banks.insert(Bank::new(quota, None))?;
        Some(Cap::new(CapType::Bank, id))
    }

    /// An all-rights capability to IRQ line `line`, or `None` if there is no such line.
    pub fn irq_cap(&self, line: u32) -> Option<Cap> {
        ((line as usize) < self.irqs.len()).then_some(Cap::new(
            CapType::IrqLine,
            ObjId {
                index: line,
                generation: 1,
            },
        ))
    }

    #[inline]
    pub(crate) fn shared(&self, cpu: CpuId) -> &PerCpu {
        &self.cpus[cpu.index()]
    }

    /// Runs `f` on process `id`, whose object `p` this CPU (`cpu`) holds write-locked, and on
    /// its registers: they are this CPU's to touch unless `id` is current on another
    /// (`save_areas.rs`), which debug builds check.
    #[inline]
    pub(crate) fn with_regs<R>(
        &self,
        cpu: CpuId,
        id: ObjId,
        p: &mut Process,
        f: impl FnOnce(&mut Process, &mut P::SaveArea) -> R,
    ) -> R {
        debug_assert!(
            p.cpu.is_none_or(|c| c == cpu),
            "registers of process {} touched while it runs on another CPU (kernel bug)",
            id.index
        );
        self.saves.with(id, |r| f(p, r))
    }

    /// The live address space process `p` runs in, if it has one (`Exit::User::space`).
    #[inline]
    pub(crate) fn live_space(&self, p: &Process) -> Option<ObjId> {
        let space = p.space.obj;
        (!p.space.is_null() && self.spaces.is_live(space)).then_some(space)
    }

    /// Runs `f` on the registers of the process current on this CPU, which this CPU owns
    /// with or without its lock (`save_areas.rs`).
    #[inline]
    pub(crate) fn current_regs<R>(&self, id: ObjId, f: impl FnOnce(&mut P::SaveArea) -> R) -> R {
        self.saves.with(id, f)
    }

    /// The CPU a new process is homed on: round robin.
    pub(crate) fn next_home(&self) -> CpuId {
        let n = self.next_home.fetch_add(1, Ordering::Relaxed) as usize % self.cpus.len();
        CpuId::new(n).unwrap_or(CpuId::BOOT)
    }

    /// A fresh arrival stamp for a stall or a queued post.
    pub(crate) fn stamp(&self) -> u64 {
        self.stamps.fetch_add(1, Ordering::Relaxed)
    }

    /// Turns the fast paths on or off (for the tests that compare the two; on by default).
    pub fn set_fast_paths(&self, on: bool) {
        self.fast_paths.store(on, Ordering::Relaxed);
    }

    /// Whether the object a capability names still exists (Null and dead ones do not).
    /// Inlined: every invocation asks it of its target, and the call costs more than the test.
    #[inline(always)]
    pub fn is_live(&self, cap: &Cap) -> bool {
        match cap.ty {
            CapType::Null => false,
            CapType::Process | CapType::Endpoint | CapType::Resume => {
                self.processes.is_live(cap.obj)
            }
            CapType::Bank => self.banks.is_live(cap.obj),
            CapType::Page => self.pages.is_live(cap.obj),
            CapType::AddressSpace => self.spaces.is_live(cap.obj),
            CapType::CapPage => self.cap_pages.is_live(cap.obj),
            CapType::Alarm => self.alarms.is_live(cap.obj),
            CapType::IrqLine => (cap.obj.index as usize) < self.irqs.len(),
            CapType::IoPorts => true,
        }
    }

    /// The lock key of the object a live capability names.
    pub(crate) fn key_of(&self, cap: &Cap) -> Option<LockKey> {
        let i = cap.obj.index;
        Some(match cap.ty {
            CapType::Null => return None,
            CapType::Process | CapType::Endpoint | CapType::Resume => LockKey::process(i),
            CapType::Bank => LockKey::bank(i),
            CapType::Page => LockKey::page(i),
            CapType::AddressSpace => LockKey::space(i),
            CapType::CapPage => LockKey::cap_page(i),
            CapType::IrqLine => LockKey::irq(i),
            CapType::Alarm => LockKey::alarm(i),
            CapType::IoPorts => return None,
        })
    }

    /// The IRQ lines that fired on `cpu` and are not yet posted (for tests and the simulator).
    pub fn pending_irqs(&self, cpu: CpuId) -> u64 {
        self.shared(cpu).pending_irqs.load(Ordering::Acquire)
    }

    /// Every live process (for `ps` and invariant checks).
    pub fn process_ids(&self) -> Vec<ObjId> {
        self.processes.live_ids().collect()
    }
}

impl<P: Platform> LockTable<LockKey> for Kernel<P> {
    const TAKES_TURNS: bool = P::TAKES_TURNS;

    #[inline(always)]
    fn turn(&self, at: Turn) {
        self.platform.turn(at);
    }

    fn lock_of(&self, key: LockKey) -> &MrowLock {
        let i = key.index();
        match key.kind() {
            LockKind::Process => self.processes.lock(i),
            LockKind::Bank => self.banks.lock(i),
            LockKind::Page => self.pages.lock(i),
            LockKind::Space => self.spaces.lock(i),
            LockKind::CapPage => self.cap_pages.lock(i),
            LockKind::Irq => self.irqs[i as usize].lock(),
            LockKind::Alarm => self.alarms.lock(i),
        }
    }
}
