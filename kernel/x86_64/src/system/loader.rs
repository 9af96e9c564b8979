//! Loading a program from the boot archive into a new, halted process, through the same
//! orders a user-level loader would invoke (`Kernel::kernel_invoke`): create an address space
//! and pages from a bank, fill the pages, map them with the ELF segment's rights, create the
//! process, give it its space and entry point.
//!
//! Everything the program is made of comes from the bank, so a program too big for the bank
//! fails with `OutOfQuota` and leaves no trace that the bank cannot take back.

use crate::system::Kernel;
use tessera_abi::boot::{STACK_PAGES, STACK_TOP};
use tessera_abi::{order, CapType, Error, Rights};
use tessera_core::cap::Cap;
use tessera_core::cpu::Cpu;
use xmas_elf::header::{Class, Machine, Type};
use xmas_elf::program::{ProgramHeader, Type as SegmentType};
use xmas_elf::ElfFile;

const PAGE: u64 = 4096;

#[derive(Debug)]
pub enum LoadError {
    NotElf(&'static str),
    NotAnX86_64Executable,
    SegmentOutOfRange,
    Kernel(Error),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            LoadError::NotElf(why) => write!(f, "not an ELF file: {why}"),
            LoadError::NotAnX86_64Executable => write!(f, "not a static x86_64 executable"),
            LoadError::SegmentOutOfRange => write!(f, "a segment lies outside the file or the user half"),
            LoadError::Kernel(e) => write!(f, "the kernel refused: {e:?}"),
        }
    }
}

impl From<Error> for LoadError {
    fn from(e: Error) -> Self {
        LoadError::Kernel(e)
    }
}

struct Loader<'k> {
    k: &'k Kernel,
    cpu: &'k mut Cpu,
    bank: Cap,
}

impl Loader<'_> {
    fn invoke(&mut self, cap: Cap, order: u32, data: &[u64], caps: &[Cap]) -> Result<([u64; 4], Option<Cap>), Error> {
        self.k.kernel_invoke(self.cpu, cap, order, data, caps)
    }

    fn create(&mut self, ty: CapType) -> Result<Cap, Error> {
        let (_, cap) = self.invoke(self.bank, order::bank::CREATE, &[ty as u64, 0], &[])?;
        cap.ok_or(Error::BadState)
    }

    /// A fresh page holding `bytes` at byte offset `at`, mapped at `vpn` with `rights`.
    fn page(&mut self, space: Cap, vpn: u64, at: usize, bytes: &[u8], rights: Rights) -> Result<(), Error> {
        let page = self.create(CapType::Page)?;
        self.invoke(page, order::page::ZERO, &[], &[])?;
        let mut word = [0u8; 8];
        let end = at + bytes.len();
        for w in at / 8..end.div_ceil(8) {
            for (i, b) in word.iter_mut().enumerate() {
                let pos = w * 8 + i;
                *b = if (at..end).contains(&pos) { bytes[pos - at] } else { 0 };
            }
            let value = u64::from_le_bytes(word);
            if value != 0 {
                self.invoke(page, order::page::WRITE_WORD, &[w as u64, value], &[])?;
            }
        }
        self.invoke(space, order::space::MAP, &[vpn, rights.raw()], &[page])?;
        Ok(())
    }

    fn segment(&mut self, elf: &ElfFile, space: Cap, ph: &ProgramHeader) -> Result<(), LoadError> {
        let (va, memsz, filesz, off) = (ph.virtual_addr(), ph.mem_size(), ph.file_size(), ph.offset() as usize);
        let file = elf.input.get(off..off + filesz as usize).ok_or(LoadError::SegmentOutOfRange)?;
        let end = va.checked_add(memsz).ok_or(LoadError::SegmentOutOfRange)?;
        if filesz > memsz || end > STACK_TOP - STACK_PAGES * PAGE {
            return Err(LoadError::SegmentOutOfRange);
        }
        let flags = ph.flags();
        let mut rights = Rights::READ;
        if flags.is_write() {
            rights = rights.union(Rights::WRITE);
        }
        if flags.is_execute() {
            rights = rights.union(Rights::EXEC);
        }
        let mut page_va = va & !(PAGE - 1);
        while page_va < end {
            let lo = page_va.max(va);
            let hi = (page_va + PAGE).min(va + filesz);
            let bytes = if hi > lo { &file[(lo - va) as usize..(hi - va) as usize] } else { &[][..] };
            self.page(space, page_va / PAGE, (lo - page_va) as usize, bytes, rights)?;
            page_va += PAGE;
        }
        Ok(())
    }
}

/// Loads `image` into a new halted process made from `bank`; returns its capability and its
/// address space's.
pub fn load(k: &Kernel, cpu: &mut Cpu, bank: Cap, image: &[u8], arg: u64) -> Result<(Cap, Cap), LoadError> {
    let elf = ElfFile::new(image).map_err(LoadError::NotElf)?;
    let h = &elf.header;
    if h.pt1.class() != Class::SixtyFour || h.pt2.machine().as_machine() != Machine::X86_64 || h.pt2.type_().as_type() != Type::Executable {
        return Err(LoadError::NotAnX86_64Executable);
    }
    let mut l = Loader { k, cpu, bank };
    let space = l.create(CapType::AddressSpace)?;
    for ph in elf.program_iter() {
        if ph.get_type() == Ok(SegmentType::Load) && ph.mem_size() > 0 {
            l.segment(&elf, space, &ph)?;
        }
    }
    for i in 1..=STACK_PAGES {
        l.page(space, STACK_TOP / PAGE - i, 0, &[], Rights::READ.union(Rights::WRITE))?;
    }
    let process = l.create(CapType::Process)?;
    l.invoke(process, order::process::SET_SPACE, &[], &[space])?;
    l.invoke(process, order::process::SET_ENTRY, &[h.pt2.entry_point(), STACK_TOP, arg], &[])?;
    Ok((process, space))
}

/// Maps `bytes` read-only into `space` from virtual page `vpn` on, in fresh pages from `bank`.
pub fn map_bytes(k: &Kernel, cpu: &mut Cpu, bank: Cap, space: Cap, vpn: u64, bytes: &[u8]) -> Result<(), Error> {
    let mut l = Loader { k, cpu, bank };
    for (i, chunk) in bytes.chunks(PAGE as usize).enumerate() {
        l.page(space, vpn + i as u64, 0, chunk, Rights::READ)?;
    }
    Ok(())
}
