//! Loading init from the boot archive into a new, halted process, through the same orders a
//! user-level loader invokes (`Kernel::kernel_invoke`): create an address space and pages from a
//! bank, fill the pages, map them with the ELF segment's rights (`tessera_bootfs::elf` says which), create
//! the process, give it its space and entry point. init loads every other program the same way,
//! from user mode.
//!
//! Everything the program is made of comes from the bank, so a program too big for the bank
//! fails with `OutOfQuota` and leaves no trace that the bank cannot take back.

use crate::system::Kernel;
use tessera_abi::boot::{STACK_PAGES, STACK_TOP};
use tessera_abi::{order, CapType, Error, Rights};
use tessera_bootfs::elf::{Image, LoadError};
use tessera_core::cap::Cap;
use tessera_core::cpu::Cpu;

const PAGE: u64 = 4096;

struct Loader<'k> {
    k: &'k Kernel,
    cpu: &'k mut Cpu,
    bank: Cap,
}

impl Loader<'_> {
    fn invoke(
        &mut self,
        cap: Cap,
        order: u32,
        data: &[u64],
        caps: &[Cap],
    ) -> Result<([u64; 4], Option<Cap>), Error> {
        self.k.kernel_invoke(self.cpu, cap, order, data, caps)
    }

    fn create(&mut self, ty: CapType) -> Result<Cap, Error> {
        let (_, cap) = self.invoke(self.bank, order::bank::CREATE, &[ty as u64, 0], &[])?;
        cap.ok_or(Error::BadState)
    }

    /// A fresh page holding `bytes` at byte offset `at`, mapped at `vpn` with `rights`.
    fn page(
        &mut self,
        space: Cap,
        vpn: u64,
        at: usize,
        bytes: &[u8],
        rights: Rights,
    ) -> Result<(), Error> {
        let page = self.create(CapType::Page)?;
        self.invoke(page, order::page::ZERO, &[], &[])?;
        let mut word = [0u8; 8];
        let end = at + bytes.len();
        for w in at / 8..end.div_ceil(8) {
            for (i, b) in word.iter_mut().enumerate() {
                let pos = w * 8 + i;
                *b = if (at..end).contains(&pos) {
                    bytes[pos - at]
                } else {
                    0
                };
            }
            let value = u64::from_le_bytes(word);
            if value != 0 {
                self.invoke(page, order::page::WRITE_WORD, &[w as u64, value], &[])?;
            }
        }
        self.invoke(space, order::space::MAP, &[vpn, rights.raw()], &[page])?;
        Ok(())
    }
}

/// Loads `image` into a new halted process made from `bank`; returns its capability and its
/// address space's.
pub fn load(
    k: &Kernel,
    cpu: &mut Cpu,
    bank: Cap,
    image: &[u8],
    arg: u64,
) -> Result<(Cap, Cap), LoadError> {
    let image = Image::parse(image)?;
    let mut l = Loader { k, cpu, bank };
    let space = l.create(CapType::AddressSpace)?;
    image.for_each_page(|p| {
        l.page(space, p.vpn, p.at, p.bytes, p.rights)
            .map_err(LoadError::from)
    })?;
    for i in 1..=STACK_PAGES {
        l.page(
            space,
            STACK_TOP / PAGE - i,
            0,
            &[],
            Rights::READ.union(Rights::WRITE),
        )?;
    }
    let process = l.create(CapType::Process)?;
    l.invoke(process, order::process::SET_SPACE, &[], &[space])?;
    l.invoke(
        process,
        order::process::SET_ENTRY,
        &[image.entry, STACK_TOP, arg],
        &[],
    )?;
    Ok((process, space))
}
/// Maps `bytes` read-only into `space` from virtual page `vpn` on, in fresh pages from `bank`.
pub fn map_bytes(
    k: &Kernel,
    cpu: &mut Cpu,
    bank: Cap,
    space: Cap,
    vpn: u64,
    bytes: &[u8],
) -> Result<(), Error> {
    let mut l = Loader { k, cpu, bank };
    for (i, chunk) in bytes.chunks(PAGE as usize).enumerate() {
        l.page(space, vpn + i as u64, 0, chunk, Rights::READ)?;
    }
    Ok(())
}
