//! The programs of the boot archive are static x86_64 ELF executables; this reads one into
//! what a loader does with it: the entry point, and each page to map with its bytes and rights.
//! Shared by the kernel (which loads init) and init (which loads the rest).
//!
//! Guarantees: `object` checks every header against the file's bounds (and against the sizes
//! of ELF64 headers) and this module checks every segment against the user half below the
//! initial stack (`tessera_abi::boot::STACK_TOP`), so a malformed image is an [`ImageError`],
//! never an out-of-bounds read or a panic.

use object::elf::{FileHeader64, ProgramHeader64, EM_X86_64, ET_EXEC, PF_W, PF_X, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian;
use tessera_abi::boot::{STACK_PAGES, STACK_TOP};
use tessera_abi::{Error, Rights};

const PAGE: u64 = 4096;

/// Why an image cannot be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Not a 64-bit little-endian ELF file, or its headers run past its end.
    NotElf,
    /// An ELF file, but not a static x86_64 executable.
    NotAnX86_64Executable,
    /// A segment lies outside the file, is larger in the file than in memory, or reaches the
    /// initial stack or the kernel half.
    SegmentOutOfRange,
}

/// Why a loader could not load a program: its image, or the kernel refusing an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The image is malformed.
    Image(ImageError),
    /// An order the loader invoked failed (e.g. `OutOfQuota` from the bank).
    Kernel(Error),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            LoadError::Image(e) => write!(f, "a bad program image: {e:?}"),
            LoadError::Kernel(e) => write!(f, "the kernel refused: {e:?}"),
        }
    }
}

impl From<Error> for LoadError {
    fn from(e: Error) -> Self {
        LoadError::Kernel(e)
    }
}

impl From<ImageError> for LoadError {
    fn from(e: ImageError) -> Self {
        LoadError::Image(e)
    }
}

/// A page of a program: map a fresh page at `vpn` with `rights`, holding `bytes` at byte
/// offset `at` (the rest zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageContent<'a> {
    /// Virtual page number.
    pub vpn: u64,
    /// Where in the page `bytes` start.
    pub at: usize,
    /// The page's bytes from the file (empty for a page of zeros).
    pub bytes: &'a [u8],
    /// READ, with WRITE and EXEC as the segment says.
    pub rights: Rights,
}

/// A checked executable.
#[derive(Clone, Copy, Debug)]
pub struct Image<'a> {
    file: &'a [u8],
    /// The entry point.
    pub entry: u64,
    headers: &'a [ProgramHeader64<LittleEndian>],
}

/// One loadable segment: virtual address, size in memory, its bytes in the file, rights.
struct Segment<'a> {
    va: u64,
    end: u64,
    file: &'a [u8],
    rights: Rights,
}

impl<'a> Image<'a> {
    /// Checks the ELF header and that the program headers lie in the file.
    pub fn parse(file: &'a [u8]) -> Result<Image<'a>, ImageError> {
        let header = FileHeader64::<LittleEndian>::parse(file).map_err(|_| ImageError::NotElf)?;
        if !header.is_little_endian() {
            return Err(ImageError::NotElf);
        }
        let e = LittleEndian;
        if header.e_type(e) != ET_EXEC || header.e_machine(e) != EM_X86_64 {
            return Err(ImageError::NotAnX86_64Executable);
        }
        let headers = header
            .program_headers(e, file)
            .map_err(|_| ImageError::NotElf)?;
        Ok(Image {
            file,
            entry: header.e_entry(e),
            headers,
        })
    }

    fn segment(
        &self,
        h: &ProgramHeader64<LittleEndian>,
    ) -> Result<Option<Segment<'a>>, ImageError> {
        let e = LittleEndian;
        if h.p_type(e) != PT_LOAD {
            return Ok(None);
        }
        let (va, filesz, memsz) = (h.p_vaddr(e), h.p_filesz(e), h.p_memsz(e));
        let end = va.checked_add(memsz).ok_or(ImageError::SegmentOutOfRange)?;
        let bytes = h
            .data(e, self.file)
            .map_err(|()| ImageError::SegmentOutOfRange)?;
        if filesz > memsz || end > STACK_TOP - STACK_PAGES * PAGE {
            return Err(ImageError::SegmentOutOfRange);
        }
        let mut rights = Rights::READ;
        if h.p_flags(e).0 & PF_W.0 != 0 {
            rights = rights.union(Rights::WRITE);
        }
        if h.p_flags(e).0 & PF_X.0 != 0 {
            rights = rights.union(Rights::EXEC);
        }
        Ok((memsz > 0).then_some(Segment {
            va,
            end,
            file: bytes,
            rights,
        }))
    }

    /// Every page to map, segment by segment, or the first error.
    pub fn for_each_page<E>(
        &self,
        mut f: impl FnMut(PageContent<'a>) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<ImageError>,
    {
        for h in self.headers {
            let Some(s) = self.segment(h)? else { continue };
            let file_end = s.va + s.file.len() as u64;
            let mut page_va = s.va & !(PAGE - 1);
            while page_va < s.end {
                let lo = page_va.max(s.va);
                let hi = (page_va + PAGE).min(file_end);
                let bytes = if hi > lo {
                    &s.file[(lo - s.va) as usize..(hi - s.va) as usize]
                } else {
                    &[][..]
                };
                f(PageContent {
                    vpn: page_va / PAGE,
                    at: (lo - page_va) as usize,
                    bytes,
                    rights: s.rights,
                })?;
                page_va += PAGE;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// A minimal executable: entry 0x401000, a text segment of 5 bytes at 0x401000 (RX) and a
    /// data segment of 8 file bytes and 0x2000 memory bytes at 0x402ff8 (RW).
    fn image() -> Vec<u8> {
        let mut f = vec![0u8; 0x200];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&2u16.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[24..32].copy_from_slice(&0x401000u64.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&2u16.to_le_bytes());
        let ph =
            |f: &mut Vec<u8>, i: usize, flags: u32, off: u64, va: u64, filesz: u64, memsz: u64| {
                let h = 64 + i * 56;
                f[h..h + 4].copy_from_slice(&PT_LOAD.0.to_le_bytes());
                f[h + 4..h + 8].copy_from_slice(&flags.to_le_bytes());
                f[h + 8..h + 16].copy_from_slice(&off.to_le_bytes());
                f[h + 16..h + 24].copy_from_slice(&va.to_le_bytes());
                f[h + 32..h + 40].copy_from_slice(&filesz.to_le_bytes());
                f[h + 40..h + 48].copy_from_slice(&memsz.to_le_bytes());
            };
        ph(&mut f, 0, 5, 0x100, 0x401000, 5, 5);
        ph(&mut f, 1, 6, 0x108, 0x402ff8, 8, 0x2000);
        f[0x100..0x105].copy_from_slice(b"\x90\x90\x90\x0f\x0b");
        f[0x108..0x110].copy_from_slice(&0x1122334455667788u64.to_le_bytes());
        f
    }

    /// A page as the tests see it: its vpn, where its bytes go in it, the bytes, its rights.
    type TestPage = (u64, usize, Vec<u8>, Rights);

    fn pages(f: &[u8]) -> Result<Vec<TestPage>, ImageError> {
        let img = Image::parse(f)?;
        let mut out = Vec::new();
        img.for_each_page(|p| {
            out.push((p.vpn, p.at, p.bytes.to_vec(), p.rights));
            Ok::<(), ImageError>(())
        })?;
        Ok(out)
    }

    #[test]
    fn pages_carry_the_bytes_offsets_and_rights_of_their_segments() {
        let p = pages(&image()).unwrap();
        let rx = Rights::READ.union(Rights::EXEC);
        let rw = Rights::READ.union(Rights::WRITE);
        assert_eq!(p[0], (0x401, 0, b"\x90\x90\x90\x0f\x0b".to_vec(), rx));
        assert_eq!(
            p[1],
            (
                0x402,
                0xff8,
                0x1122334455667788u64.to_le_bytes().to_vec(),
                rw
            )
        );
        assert_eq!(
            p[2],
            (0x403, 0, vec![], rw),
            "bss past the file is a zero page"
        );
        assert_eq!(p[3].0, 0x404);
        assert_eq!(p.len(), 4);
        assert_eq!(Image::parse(&image()).unwrap().entry, 0x401000);
    }

    #[test]
    fn malformed_images_are_refused() {
        let good = image();
        let mut f = good.clone();
        f[0] = 0;
        assert_eq!(pages(&f).unwrap_err(), ImageError::NotElf);
        let mut f = good.clone();
        f[18] = 3;
        assert_eq!(pages(&f).unwrap_err(), ImageError::NotAnX86_64Executable);
        let mut f = good.clone();
        f[56..58].copy_from_slice(&100u16.to_le_bytes());
        assert_eq!(
            pages(&f).unwrap_err(),
            ImageError::NotElf,
            "program headers past the end"
        );
        let mut f = good.clone();
        f[64 + 32..64 + 40].copy_from_slice(&0x10_0000u64.to_le_bytes());
        assert_eq!(
            pages(&f).unwrap_err(),
            ImageError::SegmentOutOfRange,
            "file bytes past the end"
        );
        let mut f = good.clone();
        f[64 + 16..64 + 24].copy_from_slice(&(STACK_TOP - 0x1000).to_le_bytes());
        assert_eq!(
            pages(&f).unwrap_err(),
            ImageError::SegmentOutOfRange,
            "over the stack"
        );
        let mut f = good.clone();
        f[64 + 16..64 + 24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            pages(&f).unwrap_err(),
            ImageError::SegmentOutOfRange,
            "wraps around"
        );
        assert_eq!(pages(&good[..40]).unwrap_err(), ImageError::NotElf);
        assert_eq!(pages(&[]).unwrap_err(), ImageError::NotElf);
    }
}
