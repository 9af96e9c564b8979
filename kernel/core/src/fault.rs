//! Page faults and derived page tables: the arch asks here what a virtual page maps to, and
//! for the frame of the page table that will hold the entry. Page tables are derived state,
//! kept in the cleaner's `ReclaimableCache` and evicted when frames run out (seed 001,
//! section 3).
//!
//! # Guarantees
//! - Whatever a fault resolution checked (the page, its table frame) is transiently pinned
//!   for this CPU's current kernel entry, so the cleaner cannot evict it under the arch.
//! - The cleaner runs only in prepare phases (`alloc_frame`), never after a commit point.

use tessera_abi::{Error, Rights};

use crate::cap::ObjId;
use crate::cleaner::CacheError;
use crate::cpu::Cpu;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::platform::{Frame, Platform};
use crate::sync::Restart;

/// What a user virtual page resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The page's frame.
    pub frame: Frame,
    /// What the mapping allows.
    pub rights: Rights,
    /// The frame of the derived page table that holds the entry.
    pub table: Frame,
}

impl<P: Platform> Kernel<P> {
    /// A frame from the platform; when it has none, the cleaner evicts one unpinned derived
    /// page table and the allocation is tried once more.
    pub(crate) fn alloc_frame(&self) -> Option<Frame> {
        if let Some(f) = self.platform.alloc_frame() {
            return Some(f);
        }
        let ((space, table), frame) = self.page_tables.lock().evict_one(&self.txns)?;
        self.platform.table_evicted(space, table, frame);
        self.platform.frame_freed(frame);
        self.platform.alloc_frame()
    }

    /// Resolves a fault of the current process at virtual page `vpn`: its mapping (with a
    /// live page) and the derived page table for it. `BadAddress` if nothing is mapped there,
    /// `OutOfQuota` if no frame can be found for the table.
    pub fn resolve_fault(&self, cpu: &mut Cpu, vpn: u64) -> Result<Translation, Error> {
        loop {
            self.txns.enter(cpu.id);
            let r = self.resolve(cpu, vpn);
            cpu.held.release_all(self);
            if let Ok(t) = r {
                return t;
            }
            crate::sync::atomic::spin_loop();
        }
    }

    fn resolve(&self, cpu: &mut Cpu, vpn: u64) -> Result<Result<Translation, Error>, Restart> {
        let Some(me) = cpu.current else {
            return Ok(Err(Error::BadAddress));
        };
        cpu.held.read(self, LockKey::process(me.index))?;
        let Some(space) = self
            .processes
            .read(me, |p| p.space.obj)
            .filter(|s| self.spaces.is_live(*s))
        else {
            return Ok(Err(Error::BadAddress));
        };
        cpu.held.read(self, LockKey::space(space.index))?;
        let Some(m) = self
            .spaces
            .read(space, |s| s.mappings.get(&vpn).copied())
            .flatten()
        else {
            return Ok(Err(Error::BadAddress));
        };
        cpu.held.read(self, LockKey::page(m.page.index))?;
        if !self.pages.is_live(m.page) {
            return Ok(Err(Error::BadAddress));
        }
        self.pages.pin(m.page.index).pin(cpu.id, &self.txns);
        let table = match self.table_for(cpu, space, vpn) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        // COMMIT POINT: a read-only path; the derived table is invisible to every process.
        Ok(Ok(Translation {
            frame: m.frame,
            rights: m.rights,
            table,
        }))
    }

    /// The derived page table covering `vpn` in `space`, made (and pinned) if absent.
    fn table_for(&self, cpu: &Cpu, space: ObjId, vpn: u64) -> Result<Frame, Error> {
        let key = (space, vpn / 512);
        if let Some(f) = self.page_tables.lock().pin(key, cpu.id, &self.txns) {
            return Ok(*f);
        }
        let frame = self.alloc_frame().ok_or(Error::OutOfQuota)?;
        self.platform.zero_frame(frame);
        let inserted = self
            .page_tables
            .lock()
            .insert(key, frame, cpu.id, &self.txns);
        match inserted {
            Ok(evicted) => {
                if let Some(((s, t), f)) = evicted {
                    self.platform.table_evicted(s, t, f);
                    self.platform.frame_freed(f);
                }
                Ok(frame)
            }
            Err(CacheError::AlreadyPresent(f) | CacheError::NothingEvictable(f)) => {
                self.platform.frame_freed(f);
                Err(Error::OutOfQuota)
            }
        }
    }

    /// Drops the derived tables `tables` of destroyed space `space` and frees their frames.
    pub(crate) fn drop_derived_tables(&self, space: ObjId, tables: impl Iterator<Item = u64>) {
        for t in tables {
            let removed = self.page_tables.lock().remove((space, t));
            if let Some(frame) = removed {
                self.platform.table_evicted(space, t, frame);
                self.platform.frame_freed(frame);
            }
        }
    }

    /// How many derived page tables are cached (for tests and the simulator).
    pub fn derived_tables(&self) -> usize {
        self.page_tables.lock().len()
    }
}
