//! The simulated machine: registers, frames and IPIs, implementing the core's `Platform`.
//!
//! # Guarantees
//! - Deterministic: no time, no hashing order; the state is plain vectors behind a mutex.
//! - Physical memory is a fixed number of frames, so the core's cleaner and out-of-quota paths
//!   are exercised; a frame freed twice or used after free is reported as a violation.
//! - Derived page tables, per-CPU TLBs and freed frames waiting for TLBs to be flushed are
//!   modelled (`MmuModel`), so a process reaching memory it no longer owns is a violation.

use std::sync::Mutex;

use tessera_core::fault::Translation;
use tessera_core::mmu_model::MmuModel;
use tessera_core::model_regs::ModelRegs;
use tessera_core::sync::{CpuId, Turn, MAX_CPUS};
use tessera_core::{Frame, Kernel, ObjId, Platform};

struct Machine {
    mmu: MmuModel,
    words: Vec<[u64; 8]>,
    ipis: [bool; MAX_CPUS],
    errors: Vec<String>,
    /// The clock (`Platform::now_ns`), moved on by the simulator.
    now: u64,
    /// The interrupt controller's mask, one bit per IRQ line (every line starts masked).
    irq_masked: u64,
}

/// The simulated IRQ lines that are level-triggered (the others are edge-triggered): lines 2
/// and 3 of `world::IRQ_LINES`.
const LEVEL_LINES: u64 = 0b1100;

/// The simulated platform.
pub struct SimPlatform {
    m: Mutex<Machine>,
}

impl SimPlatform {
    /// A machine with `frames` frames of memory and `cpus` CPUs. Each frame keeps its first 8
    /// words (enough for the page orders the programs use; higher words read as zero).
    pub fn new(frames: u64, cpus: usize) -> SimPlatform {
        SimPlatform {
            m: Mutex::new(Machine {
                mmu: MmuModel::new(frames, cpus),
                words: vec![[0; 8]; frames as usize],
                ipis: [false; MAX_CPUS],
                errors: Vec::new(),
                now: 0,
                irq_masked: u64::MAX,
            }),
        }
    }

    /// Moves the clock `ns` nanoseconds on (it never goes back).
    pub fn advance_clock(&self, ns: u64) {
        let mut m = self.lock();
        m.now = m.now.saturating_add(ns);
    }

    /// Whether `cpu` has an IPI pending (left in place).
    pub fn ipi_pending(&self, cpu: CpuId) -> bool {
        self.lock().ipis[cpu.index()]
    }

    /// Takes the pending IPI of `cpu`.
    pub fn take_ipi(&self, cpu: CpuId) -> bool {
        std::mem::take(&mut self.lock().ipis[cpu.index()])
    }

    /// Misuses of the machine seen so far (double free, use after free).
    pub fn errors(&self) -> Vec<String> {
        self.lock().errors.clone()
    }

    /// CPU `cpu` entered the kernel (frames in limbo stop waiting for it).
    pub fn kernel_entered(&self, cpu: usize) {
        self.lock().mmu.kernel_entered(cpu);
    }

    /// CPU `cpu` left the kernel for user mode in `space` (`None`: idle).
    pub fn user_entered(&self, cpu: usize, space: Option<ObjId>) {
        self.lock().mmu.user_entered(cpu, space);
    }

    /// Whether IRQ line `line` is masked: a masked line does not interrupt.
    pub fn irq_masked(&self, line: u32) -> bool {
        self.lock().irq_masked & (1 << line) != 0
    }

    /// The space CPU `cpu` runs in user mode, if it does.
    pub fn user_space(&self, cpu: usize) -> Option<ObjId> {
        self.lock().mmu.user_space(cpu)
    }

    /// A user access of CPU `cpu` to `vpn`: the frame reached, or `None` (a page fault).
    pub fn touch(&self, cpu: usize, vpn: u64) -> Option<Frame> {
        self.lock().mmu.touch(cpu, vpn)
    }

    /// The MMU invariant against the kernel's records (`MmuModel::check`).
    pub fn check_mmu(&self, k: &Kernel<SimPlatform>) -> Result<(), String> {
        self.lock().mmu.check(k)
    }

    /// Interrupts every CPU after a TLB shoot-down (the model does not know which CPU runs).
    fn shoot_down(m: &mut Machine, cpus: usize) {
        for c in m.ipis.iter_mut().take(cpus) {
            *c = true;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Machine> {
        self.m.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(m: &mut Machine, f: Frame, what: &str) -> bool {
        let ok = m.mmu.in_use(f);
        if !ok {
            m.errors.push(format!("{what} of frame {} not in use", f.0));
        }
        ok
    }
}

impl Platform for SimPlatform {
    type SaveArea = ModelRegs;

    fn now_ns(&self) -> u64 {
        self.lock().now
    }

    fn send_ipi(&self, cpu: CpuId) {
        self.lock().ipis[cpu.index()] = true;
    }

    fn alloc_frame(&self) -> Option<Frame> {
        self.lock().mmu.alloc()
    }

    fn frame_freed(&self, frame: Frame) {
        let mut m = self.lock();
        if m.mmu.in_use(frame) {
            m.words[frame.0 as usize] = [0; 8];
        }
        m.mmu.free(frame);
    }

    fn zero_frame(&self, frame: Frame) {
        let mut m = self.lock();
        if Self::check(&mut m, frame, "zero") {
            m.words[frame.0 as usize] = [0; 8];
        }
    }

    fn read_frame_word(&self, frame: Frame, word: usize) -> u64 {
        let mut m = self.lock();
        if Self::check(&mut m, frame, "read") {
            m.words[frame.0 as usize].get(word).copied().unwrap_or(0)
        } else {
            0
        }
    }

    fn write_frame_word(&self, frame: Frame, word: usize, value: u64) {
        let mut m = self.lock();
        if Self::check(&mut m, frame, "write") {
            if let Some(w) = m.words[frame.0 as usize].get_mut(word) {
                *w = value;
            }
        }
    }

    fn mapping_removed(&self, space: ObjId, vpn: u64) {
        let mut m = self.lock();
        let n = m.mmu.remove(space, vpn);
        Self::shoot_down(&mut m, n);
    }

    fn mapping_derived(&self, space: ObjId, vpn: u64, t: &Translation) -> bool {
        self.lock().mmu.install(space, vpn, t);
        true
    }

    fn space_destroyed(&self, space: ObjId) {
        let mut m = self.lock();
        let n = m.mmu.space_gone(space);
        Self::shoot_down(&mut m, n);
    }

    fn table_evicted(&self, space: ObjId, table: u64, frame: Frame) {
        let mut m = self.lock();
        Self::check(&mut m, frame, "evict");
        let n = m.mmu.unhook(space, table, frame);
        Self::shoot_down(&mut m, n);
    }

    fn io_ports_granted(&self, _process: ObjId, _range: Option<u32>) {}

    fn irq_level_triggered(&self, line: u32) -> bool {
        LEVEL_LINES & (1 << line) != 0
    }

    fn set_irq_masked(&self, line: u32, masked: bool) {
        let mut m = self.lock();
        if masked {
            m.irq_masked |= 1 << line;
        } else {
            m.irq_masked &= !(1 << line);
        }
    }

    const TAKES_TURNS: bool = true;

    fn turn(&self, at: Turn) {
        crate::turns::turn(at);
    }
}
