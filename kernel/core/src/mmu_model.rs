//! `MmuModel`: a machine's derived page tables, TLBs and freed-frame limbo, modelled for the
//! test platforms (the simulator's and the core tests'), so that they catch a core that lets
//! a process reach memory it no longer owns. Not used by a real kernel.
//!
//! # The model
//! - Frames are allocated from a free list; each allocation gives the frame a new generation.
//! - Derived leaf tables (space, vpn / 512) and entries (space, vpn) are installed only by
//!   `install` (the core's `mapping_derived`); `remove`, `unhook` and `space_gone` drop them
//!   and, when something was dropped, shoot TLBs down (a new epoch, every CPU interrupted).
//! - Each CPU is in user mode in one space or in the kernel. In user mode it reaches memory
//!   through its TLB, filled from the entries (`touch`); entering user mode flushes the TLB
//!   when the space or the epoch changed since it was filled (x86 reloads CR3 then).
//! - A freed frame waits in limbo until every CPU that was in user mode when it was freed has
//!   entered the kernel; only then can it be allocated again.
//!
//! # The invariant (`check`)
//! No derived entry reaches a frame that is not in use by the object the kernel's records
//! name for it, no derived table is a freed or reused frame, and no TLB of a CPU in user mode
//! reaches a frame that is free again or reused (a frame in limbo is still safe).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use tessera_abi::Rights;

use crate::cap::ObjId;
use crate::fault::Translation;
use crate::kernel::Kernel;
use crate::platform::{Frame, Platform};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    InUse,
    Limbo,
}

/// One frame as an entry saw it: its number and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    frame: Frame,
    generation: u64,
}

#[derive(Debug, Default)]
struct CpuTlb {
    /// The space this CPU runs in user mode, or `None` while it is in the kernel.
    user: Option<ObjId>,
    /// The space and epoch the TLB was filled under.
    loaded: Option<(ObjId, u64)>,
    tlb: BTreeMap<u64, Seen>,
}

/// A modelled MMU; see the file header.
#[derive(Debug)]
pub struct MmuModel {
    state: Vec<State>,
    generation: Vec<u64>,
    free: Vec<u64>,
    /// Freed frames and the CPUs each still waits for.
    limbo: Vec<(u64, BTreeSet<usize>)>,
    tables: BTreeMap<(ObjId, u64), Seen>,
    entries: BTreeMap<(ObjId, u64), (Seen, Rights)>,
    cpus: Vec<CpuTlb>,
    epoch: u64,
    errors: Vec<String>,
}

impl MmuModel {
    /// A machine of `frames` free frames and `cpus` CPUs, all in the kernel.
    pub fn new(frames: u64, cpus: usize) -> MmuModel {
        MmuModel {
            state: vec![State::Free; frames as usize],
            generation: vec![0; frames as usize],
            free: (0..frames).rev().collect(),
            limbo: Vec::new(),
            tables: BTreeMap::new(),
            entries: BTreeMap::new(),
            cpus: (0..cpus).map(|_| CpuTlb::default()).collect(),
            epoch: 0,
            errors: Vec::new(),
        }
    }

    fn seen(&self, frame: Frame) -> Seen {
        let generation = self.generation.get(frame.0 as usize).copied().unwrap_or(0);
        Seen { frame, generation }
    }

    fn state(&self, frame: Frame) -> Option<State> {
        self.state.get(frame.0 as usize).copied()
    }

    /// Whether `frame` is allocated (not free, not in limbo).
    pub fn in_use(&self, frame: Frame) -> bool {
        self.state(frame) == Some(State::InUse)
    }

    /// A free frame, with a new generation.
    pub fn alloc(&mut self) -> Option<Frame> {
        let f = self.free.pop()?;
        self.state[f as usize] = State::InUse;
        self.generation[f as usize] += 1;
        Some(Frame(f))
    }

    /// The core freed `frame`: it waits for every CPU now in user mode to enter the kernel.
    pub fn free(&mut self, frame: Frame) {
        if !self.in_use(frame) {
            self.errors
                .push(format!("free of frame {} not in use", frame.0));
            return;
        }
        let waiting: BTreeSet<usize> = (0..self.cpus.len())
            .filter(|&c| self.cpus[c].user.is_some())
            .collect();
        self.state[frame.0 as usize] = State::Limbo;
        self.limbo.push((frame.0, waiting));
        self.reclaim();
    }

    fn reclaim(&mut self) {
        let (ready, waiting): (Vec<_>, Vec<_>) = core::mem::take(&mut self.limbo)
            .into_iter()
            .partition(|(_, w)| w.is_empty());
        self.limbo = waiting;
        for (f, _) in ready {
            self.state[f as usize] = State::Free;
            self.free.push(f);
        }
    }

    /// A new epoch: every CPU flushes its TLB before it next runs user code. Returns the CPUs
    /// to interrupt (all of them: the model does not know which CPU shoots down).
    fn shoot_down(&mut self) -> usize {
        self.epoch += 1;
        self.cpus.len()
    }

    /// The core's `mapping_derived`: installs `vpn`'s entry in `space` from `t`.
    pub fn install(&mut self, space: ObjId, vpn: u64, t: &Translation) {
        if !self.in_use(t.table) || !self.in_use(t.frame) {
            self.errors.push(format!(
                "{space:?} vpn {vpn:#x}: entry installed to frame {} in table {} not both in use",
                t.frame.0, t.table.0
            ));
        }
        let table = self.seen(t.table);
        if self.tables.insert((space, vpn / 512), table) != Some(table) {
            self.entries
                .retain(|&(s, v), _| s != space || v / 512 != vpn / 512);
        }
        let seen = self.seen(t.frame);
        self.entries.insert((space, vpn), (seen, t.rights));
    }

    /// The core's `mapping_removed`. Returns how many CPUs to interrupt.
    pub fn remove(&mut self, space: ObjId, vpn: u64) -> usize {
        if self.entries.remove(&(space, vpn)).is_some() {
            self.shoot_down()
        } else {
            0
        }
    }

    /// The core's `table_evicted`: unhooks table `table` of `space` if it is `frame`. Returns
    /// how many CPUs to interrupt.
    pub fn unhook(&mut self, space: ObjId, table: u64, frame: Frame) -> usize {
        if self.tables.get(&(space, table)).map(|s| s.frame) != Some(frame) {
            return 0;
        }
        self.tables.remove(&(space, table));
        self.entries
            .retain(|&(s, v), _| s != space || v / 512 != table);
        self.shoot_down()
    }

    /// The core's `space_destroyed`. Returns how many CPUs to interrupt.
    pub fn space_gone(&mut self, space: ObjId) -> usize {
        self.tables.retain(|&(s, _), _| s != space);
        self.entries.retain(|&(s, _), _| s != space);
        self.shoot_down()
    }

    /// CPU `cpu` entered the kernel: frames in limbo stop waiting for it.
    pub fn kernel_entered(&mut self, cpu: usize) {
        if let Some(c) = self.cpus.get_mut(cpu) {
            c.user = None;
        }
        for (_, w) in &mut self.limbo {
            w.remove(&cpu);
        }
        self.reclaim();
    }

    /// CPU `cpu` leaves the kernel for user mode in `space` (or to idle, with `None`).
    pub fn user_entered(&mut self, cpu: usize, space: Option<ObjId>) {
        let epoch = self.epoch;
        let Some(c) = self.cpus.get_mut(cpu) else {
            return;
        };
        c.user = space;
        if let Some(s) = space {
            if c.loaded != Some((s, epoch)) {
                c.tlb.clear();
                c.loaded = Some((s, epoch));
            }
        }
    }

    /// The space CPU `cpu` runs in user mode, if it does.
    pub fn user_space(&self, cpu: usize) -> Option<ObjId> {
        self.cpus.get(cpu).and_then(|c| c.user)
    }

    /// A user access of CPU `cpu` to `vpn` of its space: the frame reached through its TLB,
    /// filled from the derived entry, or `None` (a page fault).
    pub fn touch(&mut self, cpu: usize, vpn: u64) -> Option<Frame> {
        let c = self.cpus.get_mut(cpu)?;
        let space = c.user?;
        if let Some(s) = c.tlb.get(&vpn) {
            return Some(s.frame);
        }
        let (seen, _) = *self.entries.get(&(space, vpn))?;
        c.tlb.insert(vpn, seen);
        Some(seen.frame)
    }

    /// The derived entry of `vpn` in `space`: its frame.
    pub fn entry(&self, space: ObjId, vpn: u64) -> Option<Frame> {
        self.entries.get(&(space, vpn)).map(|(s, _)| s.frame)
    }

    /// How many frames are free (not in use, not in limbo).
    pub fn free_frames(&self) -> usize {
        self.free.len()
    }

    /// Checks the model's invariant against kernel `k`'s records (see the file header).
    pub fn check<P: Platform>(&self, k: &Kernel<P>) -> Result<(), String> {
        if let Some(e) = self.errors.first() {
            return Err(e.clone());
        }
        let current = |s: &Seen| self.seen(s.frame) == *s;
        for (&(space, t), s) in &self.tables {
            if !self.in_use(s.frame) || !current(s) {
                return Err(format!(
                    "derived table {t:#x} of {space:?} is frame {}, freed or reused",
                    s.frame.0
                ));
            }
            if k.derived_table(space, t) != Some(s.frame) {
                return Err(format!(
                    "derived table {t:#x} of {space:?} is hooked but not in the kernel's cache"
                ));
            }
        }
        for (&(space, vpn), (s, rights)) in &self.entries {
            let state = self.state(s.frame);
            if state != Some(State::InUse) || !current(s) {
                return Err(format!(
                    "{space:?} vpn {vpn:#x}: a derived entry reaches frame {} ({state:?}, \
                     generation {} now {})",
                    s.frame.0,
                    s.generation,
                    self.seen(s.frame).generation
                ));
            }
            if k.mapped_frame(space, vpn) != Some((s.frame, *rights)) {
                return Err(format!(
                    "{space:?} vpn {vpn:#x}: a derived entry to frame {} that the records do \
                     not map (they say {:?})",
                    s.frame.0,
                    k.mapped_frame(space, vpn)
                ));
            }
        }
        for (i, c) in self.cpus.iter().enumerate() {
            if c.user.is_none() {
                continue;
            }
            for (vpn, s) in &c.tlb {
                if self.state(s.frame) == Some(State::Free) || !current(s) {
                    return Err(format!(
                        "CPU {i}: a TLB entry for vpn {vpn:#x} reaches frame {}, free again \
                         or reused",
                        s.frame.0
                    ));
                }
            }
        }
        Ok(())
    }
}
