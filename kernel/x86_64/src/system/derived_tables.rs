//! The hardware page tables of the core's address spaces, derived from its mapping records
//! (DESIGN.md: the page tables are only a cache). The leaf tables are the core's (its
//! reclaimable cache hands out their frames, `Translation::table`); the levels above are this
//! module's, one PML4 per address space whose upper half is the kernel's.
//!
//! # Guarantees
//! - An entry is installed only from `install`, which the core calls while it holds the locks
//!   that make the entry valid (`Platform::mapping_derived`); so is a space's PML4 made, and a
//!   destroyed space (`destroy`, under the core's write lock of the space) never gets one again.
//! - A space without a PML4 yet runs on `empty_root` (the kernel's upper half, nothing below),
//!   faults, and gets its own from `install`.
//! - Every removal that cleared something owes a shoot-down (`tlb::cleared`), paid before the
//!   core frees a frame it named (`tlb::free_later` settles it first) and before any CPU leaves
//!   the kernel; so removing many entries at once (a page DESTROY) costs one. Every frame this
//!   module frees goes through the TLB limbo; a PML4 stays there until no CPU has it loaded
//!   (`tlb::loaded`).
//!
//! Lock order: a `ROOTS` stripe is a leaf for the core, which calls in here while holding its
//! own locks; no two stripes are ever held together, and while one is held only the frame
//! allocator (`KMEM`) and the limbo (`tlb::LIMBO`), leaves below it, are taken.

use crate::mem::kmem::{Frames, KMEM};
use crate::mem::layout::phys_to_virt;
use crate::mem::page_table::{PageTableFlags, PhysPages};
use crate::system::tlb;
use alloc::collections::BTreeMap;
use spin::Mutex;
use tessera_abi::Rights;
use tessera_core::cap::ObjId;
use tessera_core::fault::Translation;

const ADDR: u64 = 0x000f_ffff_ffff_f000;
const TABLE: u64 = PageTableFlags::PRESENT.bits()
    | PageTableFlags::WRITABLE.bits()
    | PageTableFlags::USER_ACCESSIBLE.bits();
const PRESENT: u64 = PageTableFlags::PRESENT.bits();

/// How many locks the PML4s are spread over. Every fault takes its space's (`install`): with
/// one lock for all, faults in different spaces on different CPUs would all meet on it (issue
/// 8: no global lock on a common path).
const ROOT_STRIPES: usize = 16;

/// The PML4s: per address space, and the empty one (`ObjId::NONE`), each in the stripe of its
/// table index (`roots`). A stripe protects every table frame above the leaves of its spaces,
/// and the hooks of leaf tables in them.
static ROOTS: [Mutex<BTreeMap<ObjId, u64>>; ROOT_STRIPES] =
    [const { Mutex::new(BTreeMap::new()) }; ROOT_STRIPES];

/// The stripe of `ROOTS` that holds `space`'s PML4.
fn roots(space: ObjId) -> &'static Mutex<BTreeMap<ObjId, u64>> {
    &ROOTS[space.index as usize % ROOT_STRIPES]
}

fn table(pa: u64) -> &'static mut [u64; 512] {
    // SAFETY: `pa` is a page-table frame of one of our address spaces (or the core's leaf
    // table), reached through the direct map under its space's `ROOTS` stripe.
    unsafe { &mut *(phys_to_virt(pa) as *mut [u64; 512]) }
}

/// A zeroed PML4 with the kernel's upper half.
fn new_root() -> Option<u64> {
    let mut guard = KMEM.lock();
    let km = guard.as_mut()?;
    let kernel_root = km.tables.root;
    let mut f = Frames(&mut km.frames);
    let r = f.alloc_zeroed()?;
    let upper: [u64; 256] = core::array::from_fn(|i| f.table(kernel_root)[256 + i]);
    table(r)[256..].copy_from_slice(&upper);
    Some(r)
}

/// The PML4 of `space`, if it has one.
pub fn root_of(space: ObjId) -> Option<u64> {
    roots(space).lock().get(&space).copied()
}

/// A PML4 with no user mappings, for a space that has no PML4 of its own yet.
pub fn empty_root() -> Option<u64> {
    let mut roots = roots(ObjId::NONE).lock();
    if let Some(&r) = roots.get(&ObjId::NONE) {
        return Some(r);
    }
    let r = new_root()?;
    roots.insert(ObjId::NONE, r);
    Some(r)
}

fn next_level(entry: &mut u64, create: bool) -> Option<u64> {
    if *entry & PRESENT == 0 {
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

/// The page directory covering `vpn` under PML4 `root`.
fn directory(root: u64, vpn: u64, create: bool) -> Option<u64> {
    let pdpt = next_level(&mut table(root)[((vpn >> 27) & 0x1ff) as usize], create)?;
    next_level(&mut table(pdpt)[((vpn >> 18) & 0x1ff) as usize], create)
}

/// Installs the core's resolution of a fault at `vpn` (called under the core's locks). False
/// if there is no memory for a level above the leaf.
pub fn install(space: ObjId, vpn: u64, t: &Translation) -> bool {
    let mut roots = roots(space).lock();
    let root = match roots.get(&space) {
        Some(&r) => r,
        None => {
            let Some(r) = new_root() else { return false };
            roots.insert(space, r);
            r
        }
    };
    let Some(pd) = directory(root, vpn, true) else {
        return false;
    };
    let leaf_table = t.table.0 << 12;
    table(pd)[((vpn >> 9) & 0x1ff) as usize] = leaf_table | TABLE;
    let mut flags = PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
    if t.rights.contains(Rights::WRITE) {
        flags |= PageTableFlags::WRITABLE;
    }
    if !t.rights.contains(Rights::EXEC) {
        flags |= PageTableFlags::NO_EXECUTE;
    }
    table(leaf_table)[(vpn & 0x1ff) as usize] = (t.frame.0 << 12) | flags.bits();
    true
}

/// The core removed `vpn`'s mapping: clear the entry if its table is hooked, and owe a
/// shoot-down if there was one.
pub fn remove(space: ObjId, vpn: u64) {
    let cleared = {
        let roots = roots(space).lock();
        let Some(pd) = roots.get(&space).and_then(|&r| directory(r, vpn, false)) else {
            return;
        };
        let pde = table(pd)[((vpn >> 9) & 0x1ff) as usize];
        let pte = if pde & PRESENT != 0 {
            Some(&mut table(pde & ADDR)[(vpn & 0x1ff) as usize])
        } else {
            None
        };
        match pte {
            Some(e) if *e & PRESENT != 0 => {
                *e = 0;
                true
            }
            _ => false,
        }
    };
    if cleared {
        tlb::cleared();
    }
}

/// The core's cleaner took back leaf table `index` (= vpn / 512): unhook it.
pub fn unhook(space: ObjId, index: u64, frame_pa: u64) {
    let cleared = {
        let roots = roots(space).lock();
        let Some(pd) = roots
            .get(&space)
            .and_then(|&r| directory(r, index << 9, false))
        else {
            return;
        };
        let slot = &mut table(pd)[(index & 0x1ff) as usize];
        let hooked = *slot & PRESENT != 0 && *slot & ADDR == frame_pa;
        if hooked {
            *slot = 0;
        }
        hooked
    };
    if cleared {
        tlb::cleared();
    }
}

/// The core destroyed `space`: forget its PML4 and return it and every level between it and
/// the leaf tables (which are the core's) through the TLB limbo, after one shoot-down.
pub fn destroy(space: ObjId) {
    let mut roots = roots(space).lock();
    let Some(root) = roots.remove(&space) else {
        return;
    };
    tlb::cleared();
    for &pml4e in &table(root)[..256] {
        if pml4e & PRESENT == 0 {
            continue;
        }
        let pdpt = pml4e & ADDR;
        for &pdpte in table(pdpt).iter() {
            if pdpte & PRESENT != 0 {
                tlb::free_later(pdpte & ADDR);
            }
        }
        tlb::free_later(pdpt);
    }
    tlb::free_later(root);
}

crate::ktest! {
    fn a_destroyed_space_gives_back_its_upper_levels_and_root() {
        use crate::check;
        use tessera_core::platform::Frame;
        let free = || KMEM.lock().as_ref().map_or(0, |k| k.frames.free_frames());
        let Some(leaf) = KMEM.lock().as_mut().and_then(|k| k.frames.alloc()) else {
            return Err(crate::ktest::Failure { file: file!(), line: line!(), message: "a leaf frame" });
        };
        let space = ObjId { index: 4000, generation: 1 };
        let before = free();
        let t = Translation { frame: Frame(leaf >> 12), rights: Rights::READ, table: Frame(leaf >> 12) };
        check!(install(space, 0x1234, &t), "the entry is installed");
        check!(free() == before - 3, "a PML4, a PDPT and a PD were made");
        check!(root_of(space).is_some(), "the space has its PML4");
        destroy(space);
        check!(root_of(space).is_none(), "a destroyed space has no PML4");
        tlb::quiescent(crate::cpu::percpu::percpu().id);
        tlb::reclaim();
        check!(free() == before, "the three frames are free again once no CPU can reach them");
        if let Some(k) = KMEM.lock().as_mut() {
            let _ = k.frames.free(leaf);
        }
    }
}

crate::ktest! {
    fn removing_many_entries_costs_one_shoot_down() {
        use crate::check;
        use core::sync::atomic::Ordering;
        use tessera_core::platform::Frame;
        let alloc = || KMEM.lock().as_mut().and_then(|k| k.frames.alloc());
        let (Some(leaf), Some(page)) = (alloc(), alloc()) else {
            return Err(crate::ktest::Failure { file: file!(), line: line!(), message: "two frames" });
        };
        let space = ObjId { index: 4001, generation: 1 };
        let t = Translation { frame: Frame(page >> 12), rights: Rights::READ, table: Frame(leaf >> 12) };
        for vpn in 0x2000..0x2010 {
            check!(install(space, vpn, &t), "the entry is installed");
        }
        tlb::settle();
        let epoch = tlb::EPOCH.load(Ordering::Acquire);
        for vpn in 0x2000..0x2010 {
            remove(space, vpn);
        }
        check!(tlb::EPOCH.load(Ordering::Acquire) == epoch, "a removal only owes its shoot-down");
        tlb::free_later(page);
        check!(tlb::EPOCH.load(Ordering::Acquire) == epoch + 1, "freeing the frame pays one shoot-down for all sixteen");
        tlb::free_later(leaf);
        check!(tlb::EPOCH.load(Ordering::Acquire) == epoch + 1, "nothing more was owed");
        destroy(space);
        tlb::settle();
        tlb::quiescent(crate::cpu::percpu::percpu().id);
        tlb::reclaim();
    }
}
