//! The simulated machine: registers, frames and IPIs, implementing the core's `Platform`.
//!
//! # Guarantees
//! - Deterministic: no time, no hashing order; the state is plain vectors behind a mutex.
//! - Physical memory is a fixed number of frames, so the core's cleaner and out-of-quota paths
//!   are exercised; a frame freed twice or used after free is reported as a violation.

use std::sync::Mutex;

use tessera_abi::message::{Invocation, Reply};
use tessera_core::sync::{CpuId, Turn, MAX_CPUS};
use tessera_core::{Frame, ObjId, Platform, SaveArea};

/// The registers of a simulated process (the x86_64 `syscall` registers of the ABI).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub rax: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub r10: u64,
    pub r8: u64,
    pub r9: u64,
    pub pc: u64,
    pub sp: u64,
}

impl Regs {
    /// Loads an invocation into the registers, as user code would before `syscall`.
    pub fn load(&mut self, inv: &Invocation) {
        self.rdi = inv.cap;
        self.rsi = inv.info;
        self.rdx = inv.data[0];
        self.r10 = inv.data[1];
        self.r8 = inv.data[2];
        self.r9 = inv.data[3];
        self.rax = inv.caps;
    }

    /// The reply registers, as user code sees them after `syscall`.
    pub fn reply(&self) -> Reply {
        Reply {
            error: self.rax,
            badge: self.rdi,
            info: self.rsi,
            data: [self.rdx, self.r10, self.r8, self.r9],
        }
    }
}

impl SaveArea for Regs {
    fn invocation(&self) -> Invocation {
        Invocation {
            cap: self.rdi,
            info: self.rsi,
            data: [self.rdx, self.r10, self.r8, self.r9],
            caps: self.rax,
        }
    }

    fn set_reply(&mut self, r: &Reply) {
        self.rax = r.error;
        self.rdi = r.badge;
        self.rsi = r.info;
        [self.rdx, self.r10, self.r8, self.r9] = r.data;
    }

    fn set_entry(&mut self, pc: u64, sp: u64, arg: u64) {
        self.pc = pc;
        self.sp = sp;
        self.rdi = arg;
    }
}

struct Machine {
    free: Vec<u64>,
    in_use: Vec<bool>,
    words: Vec<[u64; 8]>,
    ipis: [bool; MAX_CPUS],
    errors: Vec<String>,
}

/// The simulated platform.
pub struct SimPlatform {
    m: Mutex<Machine>,
}

impl SimPlatform {
    /// A machine with `frames` frames of memory. Each frame keeps its first 8 words (enough
    /// for the page orders the programs use; higher words read as zero).
    pub fn new(frames: u64) -> SimPlatform {
        SimPlatform {
            m: Mutex::new(Machine {
                free: (0..frames).rev().collect(),
                in_use: vec![false; frames as usize],
                words: vec![[0; 8]; frames as usize],
                ipis: [false; MAX_CPUS],
                errors: Vec::new(),
            }),
        }
    }

    /// Takes the pending IPI of `cpu`.
    pub fn take_ipi(&self, cpu: CpuId) -> bool {
        std::mem::take(&mut self.lock().ipis[cpu.index()])
    }

    /// Misuses of the machine seen so far (double free, use after free).
    pub fn errors(&self) -> Vec<String> {
        self.lock().errors.clone()
    }

    /// Frames not in use.
    pub fn free_frames(&self) -> usize {
        self.lock().free.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Machine> {
        self.m.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(m: &mut Machine, f: Frame, what: &str) -> bool {
        let ok = m.in_use.get(f.0 as usize).copied().unwrap_or(false);
        if !ok {
            m.errors.push(format!("{what} of frame {} not in use", f.0));
        }
        ok
    }
}

impl Platform for SimPlatform {
    type SaveArea = Regs;

    fn send_ipi(&self, cpu: CpuId) {
        self.lock().ipis[cpu.index()] = true;
    }

    fn alloc_frame(&self) -> Option<Frame> {
        let mut m = self.lock();
        let f = m.free.pop()?;
        m.in_use[f as usize] = true;
        Some(Frame(f))
    }

    fn frame_freed(&self, frame: Frame) {
        let mut m = self.lock();
        if Self::check(&mut m, frame, "free") {
            m.in_use[frame.0 as usize] = false;
            m.words[frame.0 as usize] = [0; 8];
            m.free.push(frame.0);
        }
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

    fn mapping_removed(&self, _space: ObjId, _vpn: u64) {}

    fn table_evicted(&self, _space: ObjId, _table: u64, frame: Frame) {
        let mut m = self.lock();
        Self::check(&mut m, frame, "evict");
    }

    fn io_ports_granted(&self, _process: ObjId, _range: Option<u32>) {}

    const TAKES_TURNS: bool = true;

    fn turn(&self, at: Turn) {
        crate::turns::turn(at);
    }
}
