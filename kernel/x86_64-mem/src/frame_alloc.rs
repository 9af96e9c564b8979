//! The physical frame allocator: one bit per 4 KiB frame of RAM below `top`.
//!
//! Invariants: a frame is handed out at most once until freed; a frame outside every usable
//! region, or inside a reserved range (the kernel image, boot modules, the first MiB), is never
//! handed out; freeing a frame that is not allocated is refused (it would hand the frame out twice).

use crate::layout::{align_down, align_up, PAGE_SIZE};
use crate::start_info::{MemoryKind, MemoryRegion};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    NotAllocated(u64),
    OutOfRange(u64),
}

pub struct FrameAllocator<'a> {
    /// Bit set = frame free.
    bitmap: &'a mut [u64],
    frames: u64,
    next: u64,
    free: u64,
}

impl<'a> FrameAllocator<'a> {
    /// Words of bitmap needed to cover physical memory up to `top`.
    pub fn bitmap_words(top: u64) -> usize {
        (top / PAGE_SIZE).div_ceil(64) as usize
    }

    /// Marks usable RAM free, then takes out every `reserved` range (physical start, end).
    pub fn new(bitmap: &'a mut [u64], regions: &[MemoryRegion], reserved: &[(u64, u64)]) -> Self {
        bitmap.fill(0);
        let frames = bitmap.len() as u64 * 64;
        let mut a = FrameAllocator {
            bitmap,
            frames,
            next: 0,
            free: 0,
        };
        for r in regions.iter().filter(|r| r.kind == MemoryKind::Usable) {
            let (s, e) = (
                align_up(r.start, PAGE_SIZE) / PAGE_SIZE,
                align_down(r.start + r.len, PAGE_SIZE) / PAGE_SIZE,
            );
            for f in s..e.min(frames) {
                a.set_free(f, true);
            }
        }
        for &(s, e) in reserved {
            for f in align_down(s, PAGE_SIZE) / PAGE_SIZE
                ..(align_up(e, PAGE_SIZE) / PAGE_SIZE).min(frames)
            {
                a.set_free(f, false);
            }
        }
        a.free = a.bitmap.iter().map(|w| w.count_ones() as u64).sum();
        a
    }

    fn is_free(&self, f: u64) -> bool {
        self.bitmap[(f / 64) as usize] & (1 << (f % 64)) != 0
    }

    fn set_free(&mut self, f: u64, free: bool) {
        let (w, b) = ((f / 64) as usize, f % 64);
        if free {
            self.bitmap[w] |= 1 << b;
        } else {
            self.bitmap[w] &= !(1 << b);
        }
    }

    /// A free frame's physical address, or `None` when memory is exhausted.
    pub fn alloc(&mut self) -> Option<u64> {
        let words = self.bitmap.len() as u64;
        for i in 0..words {
            let w = ((self.next / 64) + i) % words;
            let bits = self.bitmap[w as usize];
            if bits != 0 {
                let f = w * 64 + bits.trailing_zeros() as u64;
                self.set_free(f, false);
                self.free -= 1;
                self.next = f + 1;
                return Some(f * PAGE_SIZE);
            }
        }
        None
    }

    pub fn free(&mut self, pa: u64) -> Result<(), FreeError> {
        let f = pa / PAGE_SIZE;
        if !pa.is_multiple_of(PAGE_SIZE) || f >= self.frames {
            return Err(FreeError::OutOfRange(pa));
        }
        if self.is_free(f) {
            return Err(FreeError::NotAllocated(pa));
        }
        self.set_free(f, true);
        self.free += 1;
        Ok(())
    }

    pub fn free_frames(&self) -> u64 {
        self.free
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn usable(start: u64, len: u64) -> MemoryRegion {
        MemoryRegion {
            start,
            len,
            kind: MemoryKind::Usable,
        }
    }

    #[test]
    fn hands_out_only_usable_unreserved_frames() {
        let regions = [
            usable(0, 0xa0000),
            MemoryRegion {
                start: 0xa0000,
                len: 0x60000,
                kind: MemoryKind::Reserved,
            },
            usable(0x100000, 0x100000),
        ];
        let mut bm = vec![0u64; FrameAllocator::bitmap_words(0x200000)];
        let mut a = FrameAllocator::new(&mut bm, &regions, &[(0, 0x100000), (0x100000, 0x180000)]);
        assert_eq!(a.free_frames(), 128);
        let mut seen = HashSet::new();
        while let Some(pa) = a.alloc() {
            assert!(
                (0x180000..0x200000).contains(&pa),
                "{pa:#x} is reserved or not RAM"
            );
            assert!(seen.insert(pa), "{pa:#x} handed out twice");
        }
        assert_eq!(seen.len(), 128);
        assert_eq!(a.free_frames(), 0);
    }

    #[test]
    fn refuses_double_free_and_foreign_frames() {
        let mut bm = vec![0u64; FrameAllocator::bitmap_words(0x10000)];
        let mut a = FrameAllocator::new(&mut bm, &[usable(0, 0x10000)], &[]);
        let pa = a.alloc().unwrap();
        assert_eq!(a.free(pa), Ok(()));
        assert_eq!(a.free(pa), Err(FreeError::NotAllocated(pa)));
        assert_eq!(a.free(0x10_0000), Err(FreeError::OutOfRange(0x10_0000)));
        assert_eq!(a.free(pa + 1), Err(FreeError::OutOfRange(pa + 1)));
    }

    #[test]
    fn partial_pages_at_region_edges_are_not_usable() {
        let mut bm = vec![0u64; FrameAllocator::bitmap_words(0x10000)];
        let a = FrameAllocator::new(&mut bm, &[usable(0x800, 0x2000)], &[]);
        assert_eq!(a.free_frames(), 1, "only [0x1000, 0x2000) is a whole page");
    }

    proptest! {
        #[test]
        fn alloc_free_sequences_never_duplicate(ops in proptest::collection::vec(any::<bool>(), 1..400)) {
            let mut bm = vec![0u64; FrameAllocator::bitmap_words(0x40000)];
            let mut a = FrameAllocator::new(&mut bm, &[usable(0, 0x40000)], &[(0, 0x1000)]);
            let total = a.free_frames();
            let mut held: Vec<u64> = Vec::new();
            for op in ops {
                if op || held.is_empty() {
                    if let Some(pa) = a.alloc() {
                        prop_assert!(!held.contains(&pa));
                        prop_assert!(pa != 0);
                        held.push(pa);
                    } else {
                        prop_assert_eq!(held.len() as u64, total);
                    }
                } else {
                    let pa = held.swap_remove(0);
                    prop_assert_eq!(a.free(pa), Ok(()));
                }
                prop_assert_eq!(a.free_frames() + held.len() as u64, total);
            }
        }
    }
}
