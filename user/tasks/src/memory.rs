//! The task's memory: pages from the task's bank mapped into its address space, each filed so
//! that the task's end can destroy every one and give the bank back. Filing is two levels
//! deep: `TASK_CAPS` holds up to `CAP_PAGES` directories, each a capability page of up to 64
//! capability pages of 64 pages (131,072 pages in all).
//!
//! Guarantees: every page this maps is destroyed by `release`; nothing is mapped twice.
//! Assumes: called from the home process only (it holds `TASK_CAPS`); `CAP_DIR` and
//! `CAP_PAGE` hold the last directory and filing page between calls.

use tessera_user::abi::cap::CAP_PAGE_SLOTS;
use tessera_user::abi::order::cap_page;
use tessera_user::abi::{CapType, Error, Rights};
use tessera_user::{caps, invoke, slots as lib_slots};

use crate::slots::{cap_page_entry, CAP_DIR, CAP_PAGE, CAP_PAGES, TASK_BANK, TASK_CAPS, TMP};

pub const PAGE: usize = 4096;

/// Files the capability in `cap` at `entry` of the capability page in `page`.
pub fn file(page: u8, entry: u64, cap: u8) -> Result<(), Error> {
    invoke::call(page, cap_page::STORE, &[entry], &[cap]).map(|_| ())
}

/// Loads the capability at `entry` of the capability page in `page` into slot `into`.
pub fn load(page: u8, entry: u64, into: u8) -> Result<(), Error> {
    invoke::call_for_cap(page, cap_page::LOAD, &[entry], &[], into).map(|_| ())
}

#[derive(Debug, Default)]
pub struct Memory {
    filed: usize,
}

impl Memory {
    /// Maps a fresh zeroed page read-write at page number `vpn` of the home's space.
    pub fn map(&mut self, vpn: u64) -> Result<(), Error> {
        let per_dir = CAP_PAGE_SLOTS * CAP_PAGE_SLOTS;
        let (d, k, j) = (
            self.filed / per_dir,
            self.filed / CAP_PAGE_SLOTS % CAP_PAGE_SLOTS,
            self.filed % CAP_PAGE_SLOTS,
        );
        if d >= CAP_PAGES {
            return Err(Error::OutOfQuota);
        }
        if k == 0 && j == 0 {
            fresh_cap_page(TASK_CAPS, cap_page_entry(d), CAP_DIR)?;
        }
        if j == 0 {
            fresh_cap_page(CAP_DIR, k as u64, CAP_PAGE)?;
        }
        caps::create(TASK_BANK, CapType::Page, TMP)?;
        if let Err(e) = file(CAP_PAGE, j as u64, TMP) {
            let _ = caps::destroy(TASK_BANK, TMP);
            return Err(e);
        }
        self.filed += 1;
        caps::map(
            lib_slots::task::SPACE,
            vpn,
            TMP,
            Rights::READ.union(Rights::WRITE),
        )
    }

    /// Pages mapped so far.
    pub fn pages(&self) -> usize {
        self.filed
    }

    /// Destroys every page (unmapping it) and the filing pages.
    pub fn release(&mut self) {
        let pages = self.filed;
        let filing = pages.div_ceil(CAP_PAGE_SLOTS);
        for d in 0..filing.div_ceil(CAP_PAGE_SLOTS) {
            if load(TASK_CAPS, cap_page_entry(d), CAP_DIR).is_err() {
                continue;
            }
            for k in 0..(filing - d * CAP_PAGE_SLOTS).min(CAP_PAGE_SLOTS) {
                if load(CAP_DIR, k as u64, CAP_PAGE).is_err() {
                    continue;
                }
                let first = (d * CAP_PAGE_SLOTS + k) * CAP_PAGE_SLOTS;
                for j in 0..(pages - first).min(CAP_PAGE_SLOTS) {
                    if load(CAP_PAGE, j as u64, TMP).is_ok() {
                        let _ = caps::destroy(TASK_BANK, TMP);
                    }
                }
                let _ = caps::destroy(TASK_BANK, CAP_PAGE);
            }
            let _ = caps::destroy(TASK_BANK, CAP_DIR);
        }
        self.filed = 0;
    }
}

/// Makes a capability page in `into` and files it at `entry` of the capability page in `dir`.
fn fresh_cap_page(dir: u8, entry: u64, into: u8) -> Result<(), Error> {
    caps::create(TASK_BANK, CapType::CapPage, into)?;
    file(dir, entry, into).inspect_err(|_| {
        let _ = caps::destroy(TASK_BANK, into);
    })
}
