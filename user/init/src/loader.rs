//! Loading the programs of the boot archive, which the kernel maps read-only into init at
//! `abi::boot::ARCHIVE_VA`: each ELF becomes a new address space and a halted process, built
//! with the orders any user-level loader has — create pages from the bank, map each one into
//! init's own space to fill it, unmap it, map it into the program's space with the rights of its
//! ELF segment.
//!
//! Guarantees: a program that does not fit (a malformed ELF, a segment outside the user half or
//! over the stack, an exhausted bank) is refused with a `LoadError`, never a fault in init.
//! Assumes: the kernel filled `init::SPACE` and `init::BANK`, and nothing is mapped at
//! [`SCRATCH_VPN`].

use tessera_user::abi::boot::{init, ARCHIVE_MAGIC, ARCHIVE_VA, STACK_PAGES, STACK_TOP};
use tessera_user::abi::{CapType, Error, Rights};
use tessera_user::{caps, slots};
use xmas_elf::header::{Class, Machine, Type};
use xmas_elf::program::{ProgramHeader, Type as SegmentType};
use xmas_elf::ElfFile;

const PAGE: u64 = 4096;
/// Where init maps a page while it fills it.
const SCRATCH_VPN: u64 = 0x20_0000_0000 / PAGE;
/// init's slots for the address space and the page being built.
const SPACE: u8 = slots::FREE + 8;
const PAGE_SLOT: u8 = slots::FREE + 9;

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

/// The boot archive, if the kernel mapped one.
pub fn archive() -> Option<&'static [u8]> {
    let header = ARCHIVE_VA as *const u64;
    // SAFETY: the kernel maps the header page (two words) read-only at ARCHIVE_VA before init
    // runs; a missing mapping would fault here, at boot, where it is plainly the kernel's bug.
    let (magic, len) = unsafe { (header.read_volatile(), header.add(1).read_volatile()) };
    // SAFETY: the kernel maps `len` bytes of archive right after the header page.
    (magic == ARCHIVE_MAGIC).then(|| unsafe { core::slice::from_raw_parts((ARCHIVE_VA + PAGE) as *const u8, len as usize) })
}

/// A fresh page holding `bytes` at offset `at`, mapped at `vpn` of [`SPACE`] with `rights`.
fn page(vpn: u64, at: usize, bytes: &[u8], rights: Rights) -> Result<(), Error> {
    caps::create(slots::BANK, CapType::Page, PAGE_SLOT)?;
    caps::zero_page(PAGE_SLOT)?;
    if !bytes.is_empty() {
        caps::map(init::SPACE, SCRATCH_VPN, PAGE_SLOT, Rights::READ.union(Rights::WRITE))?;
        let dst = (SCRATCH_VPN * PAGE) as *mut u8;
        // SAFETY: the page was just mapped writable at SCRATCH_VPN in init's own space, and
        // `at + bytes.len()` is at most a page (the callers cut segments at page bounds).
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.add(at), bytes.len()) };
        caps::unmap(init::SPACE, SCRATCH_VPN)?;
    }
    caps::map(SPACE, vpn, PAGE_SLOT, rights)
}

fn segment(elf: &ElfFile, ph: &ProgramHeader) -> Result<(), LoadError> {
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
        page(page_va / PAGE, (lo - page_va) as usize, bytes, rights)?;
        page_va += PAGE;
    }
    Ok(())
}

/// Loads `image` into a new halted process whose capability goes into `slot`; it starts at its
/// ELF entry with the initial stack of `abi::boot` once init sets its entry and resumes it.
pub fn load(image: &[u8], slot: u8) -> Result<(), LoadError> {
    let elf = ElfFile::new(image).map_err(LoadError::NotElf)?;
    let h = &elf.header;
    if h.pt1.class() != Class::SixtyFour || h.pt2.machine().as_machine() != Machine::X86_64 || h.pt2.type_().as_type() != Type::Executable {
        return Err(LoadError::NotAnX86_64Executable);
    }
    caps::create(slots::BANK, CapType::AddressSpace, SPACE)?;
    for ph in elf.program_iter() {
        if ph.get_type() == Ok(SegmentType::Load) && ph.mem_size() > 0 {
            segment(&elf, &ph)?;
        }
    }
    for i in 1..=STACK_PAGES {
        page(STACK_TOP / PAGE - i, 0, &[], Rights::READ.union(Rights::WRITE))?;
    }
    caps::create(slots::BANK, CapType::Process, slot)?;
    caps::set_space(slot, SPACE)?;
    caps::set_entry(slot, h.pt2.entry_point(), STACK_TOP, 0)?;
    Ok(())
}
