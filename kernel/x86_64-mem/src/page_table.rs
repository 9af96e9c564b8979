//! The x86_64 4-level page-table builder, over any source of physical frames.
//!
//! Invariants: an intermediate entry is present, writable and (only for user addresses) user;
//! permissions are decided at the leaf, so NX and read-only hold exactly where the leaf says;
//! a mapping never silently replaces another (`AlreadyMapped`), and a 4 KiB mapping never splits
//! a 2 MiB one (`HugePageInTheWay`). Used by the kernel for its own map (`kernel_map.rs`) and for
//! the page tables it derives from address-space objects.

/// The hardware's entry flags, as the `x86_64` crate names them.
pub use x86_64::structures::paging::PageTableFlags;

const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
pub const SIZE_4K: u64 = 1 << 12;
pub const SIZE_2M: u64 = 1 << 21;

/// Physical frames as the builder sees them: allocate zeroed ones, and reach their contents.
pub trait PhysPages {
    fn alloc_zeroed(&mut self) -> Option<u64>;
    fn table(&mut self, pa: u64) -> &mut [u64; 512];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    OutOfMemory,
    Misaligned,
    AlreadyMapped,
    HugePageInTheWay,
    NonCanonical,
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * level)) & 0x1ff) as usize
}

fn canonical(va: u64) -> bool {
    let top = va >> 47;
    top == 0 || top == 0x1ffff
}

/// One address space's page tables, named by the physical address of its PML4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTables {
    pub root: u64,
}

impl PageTables {
    pub fn new(mem: &mut impl PhysPages) -> Result<Self, MapError> {
        Ok(PageTables {
            root: mem.alloc_zeroed().ok_or(MapError::OutOfMemory)?,
        })
    }

    /// The table at `stop_level` (0 = PT, 1 = PD) covering `va`, creating tables on the way.
    fn walk_create(
        &self,
        mem: &mut impl PhysPages,
        va: u64,
        stop_level: u32,
        user: bool,
    ) -> Result<u64, MapError> {
        let mut table = self.root;
        for level in (stop_level + 1..=3).rev() {
            let i = index(va, level);
            let entry = mem.table(table)[i];
            if entry & PageTableFlags::PRESENT.bits() == 0 {
                let new = mem.alloc_zeroed().ok_or(MapError::OutOfMemory)?;
                let mut flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
                if user {
                    flags |= PageTableFlags::USER_ACCESSIBLE;
                }
                mem.table(table)[i] = new | flags.bits();
                table = new;
            } else if entry & PageTableFlags::HUGE_PAGE.bits() != 0 {
                return Err(MapError::HugePageInTheWay);
            } else {
                table = entry & ADDR_MASK;
            }
        }
        Ok(table)
    }

    fn map(
        &self,
        mem: &mut impl PhysPages,
        va: u64,
        pa: u64,
        flags: PageTableFlags,
        size: u64,
    ) -> Result<(), MapError> {
        if !canonical(va) {
            return Err(MapError::NonCanonical);
        }
        if !va.is_multiple_of(size) || !pa.is_multiple_of(size) {
            return Err(MapError::Misaligned);
        }
        let level = if size == SIZE_2M { 1 } else { 0 };
        let table = self.walk_create(
            mem,
            va,
            level,
            flags.contains(PageTableFlags::USER_ACCESSIBLE),
        )?;
        let slot = &mut mem.table(table)[index(va, level)];
        if *slot & PageTableFlags::PRESENT.bits() != 0 {
            return Err(MapError::AlreadyMapped);
        }
        let huge = if level == 1 {
            PageTableFlags::HUGE_PAGE
        } else {
            PageTableFlags::empty()
        };
        *slot = pa | (flags | huge | PageTableFlags::PRESENT).bits();
        Ok(())
    }

    pub fn map_4k(
        &self,
        mem: &mut impl PhysPages,
        va: u64,
        pa: u64,
        flags: PageTableFlags,
    ) -> Result<(), MapError> {
        self.map(mem, va, pa, flags, SIZE_4K)
    }

    pub fn map_2m(
        &self,
        mem: &mut impl PhysPages,
        va: u64,
        pa: u64,
        flags: PageTableFlags,
    ) -> Result<(), MapError> {
        self.map(mem, va, pa, flags, SIZE_2M)
    }

    /// The leaf entry for `va`: (physical address of `va`, flags), if mapped.
    pub fn translate(&self, mem: &mut impl PhysPages, va: u64) -> Option<(u64, PageTableFlags)> {
        let mut table = self.root;
        for level in (0..=3).rev() {
            let entry = mem.table(table)[index(va, level)];
            if entry & PageTableFlags::PRESENT.bits() == 0 {
                return None;
            }
            let flags = PageTableFlags::from_bits_truncate(entry & !ADDR_MASK);
            if level == 0 || (level == 1 && flags.contains(PageTableFlags::HUGE_PAGE)) {
                let page = 1u64 << (12 + 9 * level);
                return Some(((entry & ADDR_MASK & !(page - 1)) | (va & (page - 1)), flags));
            }
            table = entry & ADDR_MASK;
        }
        None
    }

    /// Removes the 4 KiB mapping of `va` and returns its frame. The caller flushes the TLB.
    pub fn unmap_4k(&self, mem: &mut impl PhysPages, va: u64) -> Option<u64> {
        let mut table = self.root;
        for level in (1..=3).rev() {
            let entry = mem.table(table)[index(va, level)];
            if entry & PageTableFlags::PRESENT.bits() == 0
                || entry & PageTableFlags::HUGE_PAGE.bits() != 0
            {
                return None;
            }
            table = entry & ADDR_MASK;
        }
        let slot = &mut mem.table(table)[index(va, 0)];
        if *slot & PageTableFlags::PRESENT.bits() == 0 {
            return None;
        }
        let pa = *slot & ADDR_MASK;
        *slot = 0;
        Some(pa)
    }
}

impl PageTables {
    /// Calls `free` on every frame of the lower (user) half: leaf frames, then the tables
    /// themselves. The upper half, shared with the kernel, is left alone; so is the root.
    pub fn release_lower_half(&self, mem: &mut impl PhysPages, free: &mut impl FnMut(u64)) {
        for i in 0..256 {
            let e = mem.table(self.root)[i];
            if e & PageTableFlags::PRESENT.bits() != 0 {
                release(mem, e & ADDR_MASK, 2, free);
                mem.table(self.root)[i] = 0;
            }
        }
    }
}

fn release(mem: &mut impl PhysPages, table: u64, level: u32, free: &mut impl FnMut(u64)) {
    for i in 0..512 {
        let e = mem.table(table)[i];
        if e & PageTableFlags::PRESENT.bits() == 0 {
            continue;
        }
        if level == 0 || e & PageTableFlags::HUGE_PAGE.bits() != 0 {
            free(e & ADDR_MASK);
        } else {
            release(mem, e & ADDR_MASK, level - 1, free);
        }
    }
    free(table);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct FakePhys {
        frames: HashMap<u64, Box<[u64; 512]>>,
        next: u64,
        limit: usize,
    }
    impl PhysPages for FakePhys {
        fn alloc_zeroed(&mut self) -> Option<u64> {
            if self.limit != 0 && self.frames.len() >= self.limit {
                return None;
            }
            self.next += 0x1000;
            self.frames.insert(self.next, Box::new([0; 512]));
            Some(self.next)
        }
        fn table(&mut self, pa: u64) -> &mut [u64; 512] {
            self.frames
                .get_mut(&pa)
                .expect("walked into a frame that is not a table")
        }
    }

    const KTEXT: u64 = 0xffff_ffff_8010_0000;

    #[test]
    fn maps_and_translates_with_leaf_permissions() {
        let mut m = FakePhys::default();
        let pt = PageTables::new(&mut m).unwrap();
        pt.map_4k(&mut m, KTEXT, 0x10_0000, PageTableFlags::GLOBAL)
            .unwrap();
        pt.map_4k(
            &mut m,
            KTEXT + 0x1000,
            0x10_1000,
            PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE,
        )
        .unwrap();
        let (pa, f) = pt.translate(&mut m, KTEXT + 0x123).unwrap();
        assert_eq!(pa, 0x10_0123);
        assert!(!f.contains(PageTableFlags::WRITABLE) && !f.contains(PageTableFlags::NO_EXECUTE));
        let (_, f) = pt.translate(&mut m, KTEXT + 0x1fff).unwrap();
        assert!(f.contains(PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE));
        assert_eq!(
            pt.translate(&mut m, KTEXT + 0x2000),
            None,
            "the page after is a hole"
        );
        assert_eq!(
            pt.translate(&mut m, KTEXT - 0x1000),
            None,
            "the page before is a hole"
        );
    }

    #[test]
    fn intermediate_entries_carry_user_only_for_user_mappings() {
        let mut m = FakePhys::default();
        let pt = PageTables::new(&mut m).unwrap();
        pt.map_4k(
            &mut m,
            0x40_0000,
            0x20_0000,
            PageTableFlags::USER_ACCESSIBLE,
        )
        .unwrap();
        pt.map_4k(&mut m, KTEXT, 0x10_0000, PageTableFlags::empty())
            .unwrap();
        let root = *m.table(pt.root);
        assert_ne!(root[0] & PageTableFlags::USER_ACCESSIBLE.bits(), 0);
        assert_eq!(root[511] & PageTableFlags::USER_ACCESSIBLE.bits(), 0);
        assert_eq!(
            root[0] & PageTableFlags::NO_EXECUTE.bits(),
            0,
            "NX belongs at the leaf"
        );
    }

    #[test]
    fn refuses_overlap_misalignment_noncanonical_and_split_of_huge_page() {
        let mut m = FakePhys::default();
        let pt = PageTables::new(&mut m).unwrap();
        pt.map_2m(&mut m, 0xffff_8000_0000_0000, 0, PageTableFlags::WRITABLE)
            .unwrap();
        assert_eq!(
            pt.map_4k(
                &mut m,
                0xffff_8000_0000_1000,
                0x1000,
                PageTableFlags::empty()
            ),
            Err(MapError::HugePageInTheWay)
        );
        assert_eq!(
            pt.map_2m(&mut m, 0xffff_8000_0000_0000, 0, PageTableFlags::empty()),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            pt.map_4k(&mut m, 0x1001, 0x1000, PageTableFlags::empty()),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            pt.map_2m(&mut m, 0x20_1000, 0, PageTableFlags::empty()),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            pt.map_4k(&mut m, 0x0000_8000_0000_0000, 0, PageTableFlags::empty()),
            Err(MapError::NonCanonical)
        );
        let (pa, f) = pt.translate(&mut m, 0xffff_8000_0012_3456).unwrap();
        assert_eq!(pa, 0x12_3456);
        assert!(f.contains(PageTableFlags::HUGE_PAGE));
    }

    #[test]
    fn unmap_returns_the_frame_and_leaves_a_hole() {
        let mut m = FakePhys::default();
        let pt = PageTables::new(&mut m).unwrap();
        pt.map_4k(
            &mut m,
            0x40_0000,
            0x20_0000,
            PageTableFlags::USER_ACCESSIBLE,
        )
        .unwrap();
        assert_eq!(pt.unmap_4k(&mut m, 0x40_0000), Some(0x20_0000));
        assert_eq!(pt.unmap_4k(&mut m, 0x40_0000), None);
        assert_eq!(pt.translate(&mut m, 0x40_0000), None);
    }

    #[test]
    fn releasing_the_lower_half_frees_leaves_and_tables_but_not_the_kernel_half() {
        let mut m = FakePhys::default();
        let pt = PageTables::new(&mut m).unwrap();
        pt.map_4k(
            &mut m,
            0x40_0000,
            0xa000_0000,
            PageTableFlags::USER_ACCESSIBLE,
        )
        .unwrap();
        pt.map_4k(
            &mut m,
            0x7fff_0000_0000,
            0xb000_0000,
            PageTableFlags::USER_ACCESSIBLE,
        )
        .unwrap();
        pt.map_4k(&mut m, KTEXT, 0x10_0000, PageTableFlags::empty())
            .unwrap();
        let mut freed = Vec::new();
        pt.release_lower_half(&mut m, &mut |pa| freed.push(pa));
        assert!(freed.contains(&0xa000_0000) && freed.contains(&0xb000_0000));
        assert_eq!(
            freed.len(),
            2 + 2 * 3,
            "two leaves and three tables under each"
        );
        assert!(!freed.contains(&pt.root));
        assert_eq!(pt.translate(&mut m, 0x40_0000), None);
        assert!(
            pt.translate(&mut m, KTEXT).is_some(),
            "the kernel half stays"
        );
    }

    #[test]
    fn running_out_of_frames_is_an_error() {
        let mut m = FakePhys {
            limit: 2,
            ..Default::default()
        };
        let pt = PageTables::new(&mut m).unwrap();
        assert_eq!(
            pt.map_4k(&mut m, 0x40_0000, 0x1000, PageTableFlags::empty()),
            Err(MapError::OutOfMemory)
        );
    }
}
