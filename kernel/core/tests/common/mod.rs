//! A test machine for the kernel core: a platform with a fixed number of frames, registers in
//! the ABI layout, and a harness that creates processes and drives CPUs by hand.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;

use tessera_abi::message::{CapWord, Invocation, MessageInfo, Reply};
use tessera_abi::{order, CapType, Error, InvocationKind, Rights};
use tessera_core::fault::Translation;
use tessera_core::mmu_model::MmuModel;
pub use tessera_core::model_regs::ModelRegs;
use tessera_core::sync::{CpuId, Turn};
use tessera_core::{Cap, Config, Cpu, Exit, Frame, Kernel, ObjId, Platform};

/// A machine with a few frames, derived page tables and TLBs (`MmuModel`); records IPIs.
pub struct TestPlatform {
    pub mmu: Mutex<MmuModel>,
    pub ipis: Mutex<Vec<CpuId>>,
    /// When set, every frame allocation waits here (to line two CPUs up at one point).
    pub alloc_gate: Mutex<Option<std::sync::Arc<std::sync::Barrier>>>,
    /// Interrupts sent by TLB shoot-downs.
    pub shootdowns: Mutex<Vec<CpuId>>,
    pub words: Mutex<std::collections::BTreeMap<(u64, usize), u64>>,
    /// The last I/O-port grant per process.
    pub io_ports: Mutex<std::collections::BTreeMap<ObjId, Option<u32>>>,
    /// The clock, in nanoseconds: moved by the test only.
    pub clock: std::sync::atomic::AtomicU64,
    /// The interrupt controller: which lines are level-triggered and which are masked (one
    /// bit per line; every line starts masked, as on a machine).
    pub irq_level: std::sync::atomic::AtomicU64,
    pub irq_masked: std::sync::atomic::AtomicU64,
    /// When set, the kernel path of one host thread stops at one of its lock turns.
    pub turn_gate: Mutex<Option<Arc<TurnGate>>>,
}

/// Stops the kernel path running on one host thread at its `n`-th lock turn (`Platform::turn`:
/// before each lock taken through the held-lock list, after the path's release of all) until
/// told to go on, so a test can run another CPU's whole entry at exactly that point.
pub struct TurnGate {
    stop_at: usize,
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    /// The thread whose turns count (the one that called `claim`).
    thread: Option<ThreadId>,
    seen: usize,
    stopped: bool,
    ended: bool,
    go: bool,
}

/// Where the gated thread is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gated {
    /// Stopped at its `n`-th turn, waiting for `go`.
    Stopped,
    /// Its entry ended before that turn.
    Ended,
}

impl TurnGate {
    /// A gate that stops at turn `stop_at` (0 is the first).
    pub fn new(stop_at: usize) -> Arc<TurnGate> {
        Arc::new(TurnGate {
            stop_at,
            state: Mutex::new(GateState::default()),
            changed: Condvar::new(),
        })
    }

    /// Makes the calling thread the gated one.
    pub fn claim(&self) {
        self.state.lock().unwrap().thread = Some(std::thread::current().id());
    }

    /// The gated thread's entry is over.
    pub fn end(&self) {
        self.state.lock().unwrap().ended = true;
        self.changed.notify_all();
    }

    /// Waits until the gated thread stops at its turn or ends.
    pub fn reached(&self) -> Gated {
        let mut s = self.state.lock().unwrap();
        loop {
            if s.stopped {
                return Gated::Stopped;
            }
            if s.ended {
                return Gated::Ended;
            }
            s = self.changed.wait(s).unwrap();
        }
    }

    /// Lets the stopped thread go on.
    pub fn go(&self) {
        self.state.lock().unwrap().go = true;
        self.changed.notify_all();
    }

    fn turn(&self) {
        let mut s = self.state.lock().unwrap();
        if s.thread != Some(std::thread::current().id()) {
            return;
        }
        s.seen += 1;
        if s.seen - 1 != self.stop_at {
            return;
        }
        s.stopped = true;
        self.changed.notify_all();
        while !s.go {
            s = self.changed.wait(s).unwrap();
        }
    }
}

impl Platform for TestPlatform {
    type SaveArea = ModelRegs;
    fn turn(&self, _at: Turn) {
        let gate = self.turn_gate.lock().unwrap().clone();
        if let Some(g) = gate {
            g.turn();
        }
    }
    fn now_ns(&self) -> u64 {
        self.clock.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn send_ipi(&self, cpu: CpuId) {
        self.ipis.lock().unwrap().push(cpu);
    }
    fn alloc_frame(&self) -> Option<Frame> {
        let gate = self.alloc_gate.lock().unwrap().clone();
        if let Some(g) = gate {
            g.wait();
        }
        self.mmu.lock().unwrap().alloc()
    }
    fn frame_freed(&self, frame: Frame) {
        self.mmu.lock().unwrap().free(frame);
    }
    fn zero_frame(&self, frame: Frame) {
        self.words.lock().unwrap().retain(|(f, _), _| *f != frame.0);
    }
    fn read_frame_word(&self, frame: Frame, word: usize) -> u64 {
        self.words
            .lock()
            .unwrap()
            .get(&(frame.0, word))
            .copied()
            .unwrap_or(0)
    }
    fn write_frame_word(&self, frame: Frame, word: usize, value: u64) {
        self.words.lock().unwrap().insert((frame.0, word), value);
    }
    fn mapping_removed(&self, space: ObjId, vpn: u64) {
        let n = self.mmu.lock().unwrap().remove(space, vpn);
        self.shoot_down(n);
    }
    fn mapping_derived(&self, space: ObjId, vpn: u64, t: &Translation) -> bool {
        // Writing page tables takes a while on a machine: let other CPUs run meanwhile.
        std::thread::yield_now();
        self.mmu.lock().unwrap().install(space, vpn, t);
        true
    }
    fn space_destroyed(&self, space: ObjId) {
        let n = self.mmu.lock().unwrap().space_gone(space);
        self.shoot_down(n);
    }
    fn table_evicted(&self, space: ObjId, table: u64, frame: Frame) {
        let n = self.mmu.lock().unwrap().unhook(space, table, frame);
        self.shoot_down(n);
    }
    fn io_ports_granted(&self, process: ObjId, range: Option<u32>) {
        self.io_ports.lock().unwrap().insert(process, range);
    }
    fn irq_level_triggered(&self, line: u32) -> bool {
        self.irq_level.load(std::sync::atomic::Ordering::SeqCst) & (1 << line) != 0
    }
    fn set_irq_masked(&self, line: u32, masked: bool) {
        let bit = 1 << line;
        if masked {
            self.irq_masked
                .fetch_or(bit, std::sync::atomic::Ordering::SeqCst);
        } else {
            self.irq_masked
                .fetch_and(!bit, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl TestPlatform {
    /// Interrupts the first `n` CPUs after a TLB shoot-down. Kept apart from `ipis`, which
    /// tests of the scheduler count.
    fn shoot_down(&self, n: usize) {
        self.shootdowns
            .lock()
            .unwrap()
            .extend((0..n).filter_map(CpuId::new));
    }
}

/// A kernel, its CPUs and their trap frames.
pub struct H {
    pub k: Kernel<TestPlatform>,
    pub cpus: Vec<Cpu>,
    pub regs: Vec<ModelRegs>,
    pub root: Cap,
}

/// The invocation registers for `kind` of capability `cap` with `order`, `data`, sent
/// capability slots `send` and receive slots `recv`.
pub fn inv(
    kind: InvocationKind,
    cap: u8,
    order: u32,
    data: &[u64],
    send: &[u8],
    recv: [u8; 4],
) -> Invocation {
    let mut d = [0; 4];
    d[..data.len()].copy_from_slice(data);
    let mut s = [0; 4];
    s[..send.len()].copy_from_slice(send);
    Invocation {
        cap: u64::from(cap),
        info: MessageInfo::new(kind, order, data.len() as u8, send.len() as u8).pack(),
        data: d,
        caps: CapWord { send: s, recv }.pack(),
    }
}

/// A CALL to a kernel object, receiving a capability in `to`.
pub fn call(cap: u8, order: u32, data: &[u64], send: &[u8], to: u8) -> Invocation {
    inv(InvocationKind::Call, cap, order, data, send, [to, 0, 0, 0])
}

impl H {
    /// `cpus` CPUs, `frames` frames, a root bank of `quota`, `posts` post activities.
    pub fn new(cpus: usize, frames: u64, quota: u64, posts: u32) -> H {
        H::configured(cpus, frames, quota, posts, |_| {})
    }

    /// As `new`, with the kernel's table capacities changed by `tune`.
    pub fn configured(
        cpus: usize,
        frames: u64,
        quota: u64,
        posts: u32,
        tune: impl FnOnce(&mut Config),
    ) -> H {
        let platform = TestPlatform {
            mmu: Mutex::new(MmuModel::new(frames, cpus)),
            ipis: Mutex::new(Vec::new()),
            shootdowns: Mutex::new(Vec::new()),
            alloc_gate: Mutex::new(None),
            words: Mutex::new(Default::default()),
            io_ports: Mutex::new(Default::default()),
            clock: std::sync::atomic::AtomicU64::new(0),
            irq_level: std::sync::atomic::AtomicU64::new(0),
            irq_masked: std::sync::atomic::AtomicU64::new(u64::MAX),
            turn_gate: Mutex::new(None),
        };
        let mut config = Config {
            cpus,
            processes: 16,
            banks: 16,
            pages: 64,
            spaces: 8,
            cap_pages: 8,
            irq_lines: 4,
            post_activities: posts,
            page_tables: 2,
            alarms: 8,
        };
        tune(&mut config);
        let k = Kernel::new(platform, config);
        let root = k.boot_bank(quota).unwrap();
        let cpus: Vec<Cpu> = k.cpu_ids().map(Cpu::new).collect();
        let regs = vec![ModelRegs::default(); cpus.len()];
        H {
            k,
            cpus,
            regs,
            root,
        }
    }

    /// Runs an order from the kernel itself on CPU 0.
    pub fn obj(
        &mut self,
        cap: Cap,
        order: u32,
        data: &[u64],
        caps: &[Cap],
    ) -> Result<([u64; 4], Option<Cap>), Error> {
        let user = self.mmu().user_space(0);
        self.mmu().kernel_entered(0);
        let r = self
            .k
            .kernel_invoke(&mut self.cpus[0], cap, order, data, caps);
        self.mmu().user_entered(0, user);
        r
    }

    /// The machine's MMU model.
    pub fn mmu(&self) -> std::sync::MutexGuard<'_, MmuModel> {
        self.k.platform.mmu.lock().unwrap()
    }

    /// Every invariant of the kernel and of the MMU model.
    pub fn check(&self) {
        self.k.check_invariants(&self.cpus).unwrap();
        if let Err(e) = self.mmu().check(&self.k) {
            panic!("MMU model: {e}");
        }
    }

    /// CPU `c` enters the kernel, runs `f`, and leaves for what its exit says.
    fn entry(&mut self, c: usize, f: impl FnOnce(&mut H) -> Exit) -> Exit {
        self.mmu().kernel_entered(c);
        let e = f(self);
        let space = match e {
            Exit::User { space, .. } => space,
            Exit::Idle => None,
        };
        self.mmu().user_entered(c, space);
        e
    }

    /// The current process of CPU `c` touches virtual page `vpn`, taking a page fault if no
    /// TLB entry or derived entry covers it: the frame it reaches, or the fault's error.
    pub fn touch(&mut self, c: usize, vpn: u64) -> Result<Frame, Error> {
        if let Some(f) = self.mmu().touch(c, vpn) {
            return Ok(f);
        }
        let user = self.mmu().user_space(c);
        self.mmu().kernel_entered(c);
        let r = self.k.resolve_fault(&mut self.cpus[c], vpn);
        self.mmu().user_entered(c, user);
        r?;
        self.mmu().touch(c, vpn).ok_or(Error::BadAddress)
    }

    /// Creates an object of `ty` from the root bank.
    pub fn create(&mut self, ty: CapType) -> Cap {
        let root = self.root;
        self.obj(root, order::bank::CREATE, &[ty as u64], &[])
            .unwrap()
            .1
            .unwrap()
    }

    /// A new halted process of priority `prio`.
    pub fn process(&mut self, prio: u64) -> Cap {
        let p = self.create(CapType::Process);
        self.obj(p, order::process::SET_PRIORITY, &[prio], &[])
            .unwrap();
        p
    }

    /// Puts `cap` in slot `slot` of process `p`, with `rights`.
    pub fn give(&mut self, p: Cap, slot: u8, cap: Cap, rights: Rights) {
        self.obj(
            p,
            order::process::SET_CAP,
            &[u64::from(slot), rights.raw()],
            &[cap],
        )
        .unwrap();
    }

    /// An endpoint to `p` with `badge`.
    pub fn endpoint(&mut self, p: Cap, badge: u64) -> Cap {
        self.obj(p, order::process::MAKE_ENDPOINT, &[badge], &[])
            .unwrap()
            .1
            .unwrap()
    }

    /// A new halted process of priority `prio` holding, in `slot`, an endpoint with `badge`
    /// to `server` (with all rights).
    pub fn client(&mut self, prio: u64, server: Cap, slot: u8, badge: u64) -> Cap {
        let c = self.process(prio);
        let ep = self.endpoint(server, badge);
        self.give(c, slot, ep, Rights::ALL);
        c
    }

    /// Resumes `p`.
    pub fn start(&mut self, p: Cap) {
        self.obj(p, order::process::RESUME, &[], &[]).unwrap();
    }

    /// CPU `c` takes an interrupt (or leaves its idle loop) and reschedules.
    pub fn tick(&mut self, c: usize) -> Exit {
        let space = self.mmu().user_space(c);
        self.entry(c, |h| {
            h.k.interrupted_framed(&mut h.cpus[c], &mut h.regs[c], space)
        })
    }

    /// IRQ `line` interrupts CPU `c` in user mode (or its idle loop), if the line is not
    /// masked: the handler's note, then the kernel entry. `None` if the line is masked.
    pub fn fire(&mut self, c: usize, line: u32) -> Option<Exit> {
        let masked = self
            .k
            .platform
            .irq_masked
            .load(std::sync::atomic::Ordering::SeqCst);
        if masked & (1 << line) != 0 {
            return None;
        }
        self.k.note_irq(self.cpus[c].id, line);
        Some(self.tick(c))
    }

    /// Whether the platform has IRQ `line` masked.
    pub fn irq_masked(&self, line: u32) -> bool {
        self.k
            .platform
            .irq_masked
            .load(std::sync::atomic::Ordering::SeqCst)
            & (1 << line)
            != 0
    }

    /// The process current on CPU `c`.
    pub fn current(&self, c: usize) -> Option<ObjId> {
        self.cpus[c].current()
    }

    /// The current process of CPU `c` makes invocation `i`.
    pub fn syscall(&mut self, c: usize, i: Invocation) -> Exit {
        let e = self.syscall_unchecked(c, i);
        self.check();
        e
    }

    /// `syscall` without the invariant check after it (for tests that watch what the kernel
    /// alone does, such as what it allocates).
    pub fn syscall_unchecked(&mut self, c: usize, i: Invocation) -> Exit {
        self.regs[c].load(&i);
        self.entry(c, |h| h.k.syscall_framed(&mut h.cpus[c], &mut h.regs[c]))
    }

    /// What the process now current on CPU `c` sees as the result of its last invocation.
    pub fn reply(&self, c: usize) -> Reply {
        self.regs[c].reply()
    }

    /// The error code the current process of CPU `c` sees (`None` for success).
    pub fn error(&self, c: usize) -> Option<Error> {
        Error::from_raw(self.reply(c).error)
    }

    /// The state `p` reports through the INFO order.
    pub fn state(&mut self, p: Cap) -> tessera_abi::ProcessState {
        let (d, _) = self.obj(p, order::process::INFO, &[], &[]).unwrap();
        tessera_abi::ProcessInfo::unpack(d).unwrap().state
    }
}
