//! Loading the programs of the boot archive, which the kernel maps read-only into init at
//! `abi::boot::ARCHIVE_VA`: each ELF becomes a new address space and a halted process, built
//! with the orders any user-level loader has — create pages from the bank, map each one into
//! init's own space to fill it, unmap it, map it into the program's space with the rights of its
//! ELF segment (`tessera_bootfs::elf` says which; the kernel reads init with the same code).
//!
//! Guarantees: a program that does not fit (a malformed ELF, a segment outside the user half or
//! over the stack, an exhausted bank) is refused with a `LoadError`, never a fault in init.
//! Assumes: the kernel filled `init::SPACE` and `init::BANK`, and nothing is mapped at
//! [`SCRATCH_VPN`].

use tessera_bootfs::elf::{Image, LoadError};
use tessera_user::abi::boot::{init, ARCHIVE_MAGIC, ARCHIVE_VA, STACK_PAGES, STACK_TOP};
use tessera_user::abi::cap::CAP_SPACE_SLOTS;
use tessera_user::abi::{CapType, Error, Rights};
use tessera_user::system::PROGRAMS;
use tessera_user::{caps, slots};

const PAGE: u64 = 4096;
/// Where init maps a page while it fills it.
const SCRATCH_VPN: u64 = 0x20_0000_0000 / PAGE;
const PAGE_SLOT: u8 = slots::FREE + 9;
/// init keeps the address space of `PROGRAMS[i]` at `SPACES + i` (a program may get its own).
const SPACES: u8 = slots::FREE + 16;
const _: () = assert!(SPACES as usize + PROGRAMS.len() <= CAP_SPACE_SLOTS);

/// The slot where init keeps the address space of `PROGRAMS[index]`.
pub const fn space_slot(index: usize) -> u8 {
    SPACES + index as u8
}

/// The boot archive, if the kernel mapped one.
pub fn archive() -> Option<&'static [u8]> {
    let header = ARCHIVE_VA as *const u64;
    // SAFETY: the kernel maps the header page (two words) read-only at ARCHIVE_VA before init
    // runs; a missing mapping would fault here, at boot, where it is plainly the kernel's bug.
    let (magic, len) = unsafe { (header.read_volatile(), header.add(1).read_volatile()) };
    // SAFETY: the kernel maps `len` bytes of archive right after the header page.
    (magic == ARCHIVE_MAGIC).then(|| unsafe {
        core::slice::from_raw_parts((ARCHIVE_VA + PAGE) as *const u8, len as usize)
    })
}

/// Word 2 of the archive's header page: the packed `FuzzArg` of a fuzz boot.
pub fn fuzz_arg() -> u64 {
    let header = ARCHIVE_VA as *const u64;
    // SAFETY: init prepares programs only after loading them from the archive, so the header
    // page is mapped; word 2 lies in it (zero unless this is a fuzz boot).
    unsafe { header.add(2).read_volatile() }
}

/// A fresh page holding `bytes` at offset `at`, mapped at `vpn` of `space` with `rights`.
fn page(space: u8, vpn: u64, at: usize, bytes: &[u8], rights: Rights) -> Result<(), Error> {
    caps::create(slots::BANK, CapType::Page, PAGE_SLOT)?;
    caps::zero_page(PAGE_SLOT)?;
    if !bytes.is_empty() {
        caps::map(
            init::SPACE,
            SCRATCH_VPN,
            PAGE_SLOT,
            Rights::READ.union(Rights::WRITE),
        )?;
        let dst = (SCRATCH_VPN * PAGE) as *mut u8;
        // SAFETY: the page was just mapped writable at SCRATCH_VPN in init's own space, and
        // `at + bytes.len()` is at most a page (`tessera_bootfs::elf` cuts segments at page bounds).
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.add(at), bytes.len()) };
        caps::unmap(init::SPACE, SCRATCH_VPN)?;
    }
    caps::map(space, vpn, PAGE_SLOT, rights)
}

/// Loads `image` into a new halted process whose capability goes into `slot`, and its new
/// address space into `space`; it starts at its ELF entry with the initial stack of `abi::boot`
/// once init sets its entry and resumes it.
pub fn load(image: &[u8], slot: u8, space: u8) -> Result<(), LoadError> {
    let image = Image::parse(image)?;
    caps::create(slots::BANK, CapType::AddressSpace, space)?;
    image
        .for_each_page(|p| page(space, p.vpn, p.at, p.bytes, p.rights).map_err(LoadError::from))?;
    for i in 1..=STACK_PAGES {
        page(
            space,
            STACK_TOP / PAGE - i,
            0,
            &[],
            Rights::READ.union(Rights::WRITE),
        )?;
    }
    caps::create(slots::BANK, CapType::Process, slot)?;
    caps::set_space(slot, space)?;
    caps::set_entry(slot, image.entry, STACK_TOP, 0)?;
    Ok(())
}
