//! Page faults and derived page tables: the arch asks here what a virtual page maps to, and
//! for the frame of the page table that will hold the entry. Page tables are derived state,
//! kept in the cleaner's `ReclaimableCache` and evicted when frames run out (seed 001,
//! section 3).
//!
//! # Guarantees
//! - Whatever a fault resolution checked (the page, its table frame) is transiently pinned
//!   for this CPU's current kernel entry, so the cleaner cannot evict it under the arch.
//! - The cleaner runs only in prepare phases (`alloc_frame`), never after a commit point.
//! - A derived entry is installed only while the records it comes from are locked (the
//!   process, its space and the page, for read), so every removal of a mapping or destruction
//!   of a page, which write-locks one of them, runs either before (and the fault finds nothing)
//!   or after (and removes the entry).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use tessera_abi::{Error, Rights};

use crate::cap::ObjId;
use crate::cpu::Cpu;
use crate::derived_tables::NotInserted;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::memory::Mapping;
use crate::outcome::Refusal;
use crate::platform::{Frame, Platform};

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
        let ((space, table), frame) = self.page_tables.evict_one(&self.txns)?;
        self.platform.table_evicted(space, table, frame);
        self.platform.frame_freed(frame);
        self.platform.alloc_frame()
    }

    /// Resolves a fault of the current process at virtual page `vpn`: finds its mapping (with
    /// a live page) and the derived page table for it, and has the platform install the entry
    /// (`Platform::mapping_derived`) before the locks go, so no UNMAP or DESTROY on another
    /// CPU can slip between the check and the entry. `BadAddress` if nothing is mapped there,
    /// `OutOfQuota` if no frame can be found for a table.
    pub fn resolve_fault(&self, cpu: &mut Cpu, vpn: u64) -> Result<Translation, Error> {
        loop {
            self.txns.enter(cpu.id);
            let r = self.resolve(cpu, vpn);
            cpu.held.release_all(self);
            match r {
                Ok(t) => return Ok(t),
                Err(Refusal::Error(e)) => return Err(e),
                Err(Refusal::Restart) => crate::sync::atomic::spin_loop(),
            }
        }
    }

    fn resolve(&self, cpu: &mut Cpu, vpn: u64) -> Result<Translation, Refusal> {
        let Some(me) = cpu.current else {
            return Err(Error::BadAddress.into());
        };
        // MARSHAL PHASE only (nothing but the derived entry is written): read locks, in any
        // order, from the self-lock down the translation.
        cpu.held.read(self, LockKey::process(me.index))?;
        cpu.held.marshal();
        let Some(space) = self
            .processes
            .read(me, |p| p.space.obj)
            .filter(|s| self.spaces.is_live(*s))
        else {
            return Err(Error::BadAddress.into());
        };
        cpu.held.read(self, LockKey::space(space.index))?;
        let Some(m) = self
            .spaces
            .read(space, |s| s.mappings.get(&vpn).copied())
            .flatten()
        else {
            return Err(Error::BadAddress.into());
        };
        cpu.held.read(self, LockKey::page(m.page.index))?;
        if !self.pages.is_live(m.page) {
            return Err(Error::BadAddress.into());
        }
        self.pages.pin(m.page.index).pin(cpu.id, &self.txns);
        let table = self.table_for(cpu, space, vpn)?;
        let t = Translation {
            frame: m.frame,
            rights: m.rights,
            table,
        };
        if !self.platform.mapping_derived(space, vpn, &t) {
            return Err(Error::OutOfQuota.into());
        }
        // COMMIT POINT: the entry is in, derived from records still locked; the objects are
        // unchanged.
        Ok(t)
    }

    /// The derived page table covering `vpn` in `space`, made (and pinned) if absent. Another
    /// CPU faulting in the same table's range at once may make it first: then its table is
    /// used and this CPU's frame goes back. Only `space`'s cache is locked, except when the
    /// budget of tables is spent and the cleaner takes one from any space.
    fn table_for(&self, cpu: &Cpu, space: ObjId, vpn: u64) -> Result<Frame, Error> {
        let key = (space, vpn / 512);
        if let Some(f) = self.page_tables.pin(key, cpu.id, &self.txns) {
            return Ok(f);
        }
        let mut frame = self.alloc_frame().ok_or(Error::OutOfQuota)?;
        self.platform.zero_frame(frame);
        loop {
            match self.page_tables.insert(key, frame, cpu.id, &self.txns) {
                Ok(evicted) => {
                    if let Some(((s, t), f)) = evicted {
                        self.platform.table_evicted(s, t, f);
                        self.platform.frame_freed(f);
                    }
                    return Ok(frame);
                }
                Err(NotInserted::Present(f)) => {
                    if let Some(theirs) = self.page_tables.pin(key, cpu.id, &self.txns) {
                        self.platform.frame_freed(f);
                        return Ok(theirs);
                    }
                    // Evicted again before this CPU could pin it: insert its own after all.
                    frame = f;
                }
                Err(NotInserted::OverBudget(f)) => {
                    let Some(((s, t), e)) = self.page_tables.evict_one(&self.txns) else {
                        self.platform.frame_freed(f);
                        return Err(Error::OutOfQuota);
                    };
                    self.platform.table_evicted(s, t, e);
                    self.platform.frame_freed(e);
                    frame = f;
                }
                Err(NotInserted::AllPinned(f)) => {
                    self.platform.frame_freed(f);
                    return Err(Error::OutOfQuota);
                }
            }
        }
    }

    /// Drops every derived table of destroyed space `space` and frees their frames.
    pub(crate) fn drop_derived_tables(&self, space: ObjId) {
        while let Some(((_, t), frame)) = self.page_tables.remove_one_of(space) {
            self.platform.table_evicted(space, t, frame);
            self.platform.frame_freed(frame);
        }
    }

    /// What the records say `vpn` of `space` maps to: the frame of a live page and the rights,
    /// or `None`. For invariant checks of a quiescent kernel (no CPU inside it).
    pub fn mapped_frame(&self, space: ObjId, vpn: u64) -> Option<(Frame, Rights)> {
        let m = self
            .spaces
            .read(space, |s| s.mappings.get(&vpn).copied())??;
        self.pages.is_live(m.page).then_some((m.frame, m.rights))
    }

    /// The frame of the derived page table the cleaner's cache holds for table `table`
    /// (= vpn / 512) of `space`. For invariant checks.
    pub fn derived_table(&self, space: ObjId, table: u64) -> Option<Frame> {
        self.page_tables.get((space, table))
    }

    /// Checks that every page's reverse map names exactly the records of live spaces that map
    /// it (entries of destroyed spaces may linger until the page's next MAP). For invariant
    /// checks of a quiescent kernel.
    pub(crate) fn check_reverse_maps(&self) -> Result<(), String> {
        for space in self.spaces.live_ids() {
            let records: Vec<(u64, Mapping)> = self
                .spaces
                .read(space, |s| s.mappings.iter().collect())
                .unwrap_or_default();
            for (vpn, m) in records {
                if self.pages.read(m.page, |p| p.rmap.contains(space, vpn)) == Some(false) {
                    return Err(format!(
                        "{space:?} maps {:?} at {vpn:#x} but the page's reverse map omits it",
                        m.page
                    ));
                }
            }
        }
        for page in self.pages.live_ids() {
            let entries: Vec<(ObjId, u64)> = self
                .pages
                .read(page, |p| p.rmap.iter().collect())
                .unwrap_or_default();
            for (space, vpn) in entries {
                let named = self
                    .spaces
                    .read(space, |s| s.mappings.get(&vpn).map(|m| m.page));
                if matches!(named, Some(n) if n != Some(page)) {
                    return Err(format!(
                        "{page:?}'s reverse map names {space:?} at {vpn:#x}, which maps {named:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// How many derived page tables are cached (for tests and the simulator).
    pub fn derived_tables(&self) -> usize {
        self.page_tables.len()
    }
}
