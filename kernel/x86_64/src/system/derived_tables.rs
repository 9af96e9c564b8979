//! The hardware page tables of the core's address spaces, derived from its mapping records
//! (DESIGN.md: the page tables are only a cache). The leaf tables are the core's (its
//! reclaimable cache hands out their frames, `Translation::table`); the levels above are this
//! module's, one PML4 per address space whose upper half is the kernel's.
//!
//! Lock order: `ROOTS` is a leaf — the core calls in here (`mapping_removed`, `table_evicted`)
//! while holding its own locks, and nothing is taken while it is held but the frame allocator
//! (`KMEM`), itself a leaf below it.
//! TLB coherence: every removal goes through `tlb::shoot_down` (see `tlb.rs`).

use crate::mem::kmem::{Frames, KMEM};
use crate::mem::layout::phys_to_virt;
use crate::mem::page_table::{PhysPages, PteFlags};
use crate::system::tlb;
use alloc::collections::BTreeMap;
use spin::Mutex;
use tessera_abi::Rights;
use tessera_core::cap::ObjId;
use tessera_core::fault::Translation;

const ADDR: u64 = 0x000f_ffff_ffff_f000;
const TABLE: u64 = PteFlags::PRESENT.bits() | PteFlags::WRITABLE.bits() | PteFlags::USER.bits();

/// Address space → physical address of its PML4.
static ROOTS: Mutex<BTreeMap<ObjId, u64>> = Mutex::new(BTreeMap::new());

fn table(pa: u64) -> &'static mut [u64; 512] {
    // SAFETY: `pa` is a page-table frame of one of our address spaces (or the core's leaf
    // table), reached through the direct map under ROOTS.
    unsafe { &mut *(phys_to_virt(pa) as *mut [u64; 512]) }
}

/// The PML4 of `space`, made on first use with the kernel's upper half.
pub fn root(space: ObjId) -> Option<u64> {
    let mut roots = ROOTS.lock();
    if let Some(&r) = roots.get(&space) {
        return Some(r);
    }
    let mut guard = KMEM.lock();
    let km = guard.as_mut()?;
    let kernel_root = km.tables.root;
    let mut f = Frames(&mut km.frames);
    let r = f.alloc_zeroed()?;
    let upper: [u64; 256] = core::array::from_fn(|i| f.table(kernel_root)[256 + i]);
    table(r)[256..].copy_from_slice(&upper);
    roots.insert(space, r);
    Some(r)
}

fn next_level(entry: &mut u64, create: bool) -> Option<u64> {
    if *entry & PteFlags::PRESENT.bits() == 0 {
        if !create {
            return None;
        }
        let mut guard = KMEM.lock();
        let km = guard.as_mut()?;
        let pa = Frames(&mut km.frames).alloc_zeroed()?;
        *entry = pa | TABLE;
    }
    Some(*entry & ADDR)
}

/// The page directory covering `vpn` in `space`.
fn directory(space: ObjId, vpn: u64, create: bool) -> Option<u64> {
    let r = if create { root(space)? } else { *ROOTS.lock().get(&space)? };
    let _roots = ROOTS.lock();
    let pdpt = next_level(&mut table(r)[((vpn >> 27) & 0x1ff) as usize], create)?;
    next_level(&mut table(pdpt)[((vpn >> 18) & 0x1ff) as usize], create)
}

/// Installs the core's resolution of a fault at `vpn`.
pub fn install(space: ObjId, vpn: u64, t: &Translation) -> bool {
    let Some(pd) = directory(space, vpn, true) else { return false };
    let _roots = ROOTS.lock();
    let leaf_table = t.table.0 << 12;
    table(pd)[((vpn >> 9) & 0x1ff) as usize] = leaf_table | TABLE;
    let mut flags = PteFlags::PRESENT | PteFlags::USER;
    if t.rights.contains(Rights::WRITE) {
        flags |= PteFlags::WRITABLE;
    }
    if !t.rights.contains(Rights::EXEC) {
        flags |= PteFlags::NO_EXECUTE;
    }
    table(leaf_table)[(vpn & 0x1ff) as usize] = (t.frame.0 << 12) | flags.bits();
    true
}

/// The core removed `vpn`'s mapping: clear the entry if its table is hooked.
pub fn remove(space: ObjId, vpn: u64) {
    if let Some(pd) = directory(space, vpn, false) {
        let _roots = ROOTS.lock();
        let pde = table(pd)[((vpn >> 9) & 0x1ff) as usize];
        if pde & PteFlags::PRESENT.bits() != 0 {
            table(pde & ADDR)[(vpn & 0x1ff) as usize] = 0;
        }
    }
    tlb::shoot_down();
}

/// The core's cleaner took back leaf table `index` (= vpn / 512): unhook it.
pub fn unhook(space: ObjId, index: u64, frame_pa: u64) {
    if let Some(pd) = directory(space, index << 9, false) {
        let _roots = ROOTS.lock();
        let slot = &mut table(pd)[(index & 0x1ff) as usize];
        if *slot & ADDR == frame_pa {
            *slot = 0;
        }
    }
    tlb::shoot_down();
}

