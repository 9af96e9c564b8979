//! A user address space's hardware page tables: the lower half its own, the upper half the
//! kernel's (the PML4's 256 upper entries are copied at creation; see `kernel_map.rs`).
//!
//! Invariant: every user mapping has USER set and lies below `USER_END`; no kernel page is
//! reachable from ring 3, and with SMEP/SMAP no user page is executable or silently readable
//! by the kernel.

use crate::mem::kmem::{Frames, KMEM};
use crate::mem::layout::{phys_to_virt, USER_END};
use crate::mem::page_table::{MapError, PageTableFlags, PageTables, PhysPages};

pub struct UserSpace {
    tables: PageTables,
}

impl UserSpace {
    pub fn new() -> Result<UserSpace, MapError> {
        let mut guard = KMEM.lock();
        let km = guard.as_mut().expect("kernel memory is set up");
        let kernel_root = km.tables.root;
        let mut f = Frames(&mut km.frames);
        let tables = PageTables::new(&mut f)?;
        let upper: [u64; 256] = core::array::from_fn(|i| f.table(kernel_root)[256 + i]);
        f.table(tables.root)[256..].copy_from_slice(&upper);
        Ok(UserSpace { tables })
    }

    /// Maps a fresh zeroed frame at `va` for ring 3; returns its direct-map address so the
    /// kernel can fill it without touching user memory through the user mapping (SMAP).
    pub fn map_fresh(
        &mut self,
        va: u64,
        writable: bool,
        executable: bool,
    ) -> Result<*mut u8, MapError> {
        if va >= USER_END {
            return Err(MapError::NonCanonical);
        }
        let mut flags = PageTableFlags::USER_ACCESSIBLE;
        if writable {
            flags |= PageTableFlags::WRITABLE;
        }
        if !executable {
            flags |= PageTableFlags::NO_EXECUTE;
        }
        let mut guard = KMEM.lock();
        let km = guard.as_mut().expect("kernel memory is set up");
        let mut f = Frames(&mut km.frames);
        let pa = f.alloc_zeroed().ok_or(MapError::OutOfMemory)?;
        if let Err(e) = self.tables.map_4k(&mut f, va, pa, flags) {
            let _ = km.frames.free(pa);
            return Err(e);
        }
        Ok(phys_to_virt(pa) as *mut u8)
    }

    pub fn activate(&self) {
        // SAFETY: the upper half is the kernel's own, so the running kernel stays mapped.
        unsafe {
            x86_64::registers::control::Cr3::write(
                x86_64::structures::paging::PhysFrame::containing_address(x86_64::PhysAddr::new(
                    self.tables.root,
                )),
                x86_64::registers::control::Cr3Flags::empty(),
            )
        };
    }
}

impl Drop for UserSpace {
    fn drop(&mut self) {
        let mut guard = KMEM.lock();
        let km = guard.as_mut().expect("kernel memory is set up");
        let kernel_root = km.tables.root;
        let running = x86_64::registers::control::Cr3::read()
            .0
            .start_address()
            .as_u64();
        if running == self.tables.root {
            // SAFETY: the kernel's own tables map everything the kernel needs.
            unsafe {
                x86_64::registers::control::Cr3::write(
                    x86_64::structures::paging::PhysFrame::containing_address(
                        x86_64::PhysAddr::new(kernel_root),
                    ),
                    x86_64::registers::control::Cr3Flags::empty(),
                )
            };
        }
        let mut freed = alloc::vec::Vec::new();
        self.tables
            .release_lower_half(&mut Frames(&mut km.frames), &mut |pa| freed.push(pa));
        freed.push(self.tables.root);
        for pa in freed {
            km.frames
                .free(pa)
                .expect("a user page-table frame was allocated");
        }
    }
}
