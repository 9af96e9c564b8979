//! The task's memory: pages from the task's bank mapped into its address space, each filed in
//! a capability page so that the task's end can destroy every one and give the bank back.
//!
//! Guarantees: every page this maps is destroyed by `release`; nothing is mapped twice.
//! Assumes: called from the home process only (it holds `TASK_CAPS`); `CAP_PAGE` holds the
//! last filing page between calls.

use tessera_user::abi::cap::CAP_PAGE_SLOTS;
use tessera_user::abi::order::cap_page;
use tessera_user::abi::{CapType, Error, Rights};
use tessera_user::{caps, invoke, slots as lib_slots};

use crate::slots::{cap_page_entry, CAP_PAGE, CAP_PAGES, TASK_BANK, TASK_CAPS, TMP};

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
        let (k, j) = (self.filed / CAP_PAGE_SLOTS, self.filed % CAP_PAGE_SLOTS);
        if k >= CAP_PAGES {
            return Err(Error::OutOfQuota);
        }
        if j == 0 {
            caps::create(TASK_BANK, CapType::CapPage, CAP_PAGE)?;
            if let Err(e) = file(TASK_CAPS, cap_page_entry(k), CAP_PAGE) {
                let _ = caps::destroy(TASK_BANK, CAP_PAGE);
                return Err(e);
            }
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
        for k in 0..self.filed.div_ceil(CAP_PAGE_SLOTS) {
            if load(TASK_CAPS, cap_page_entry(k), CAP_PAGE).is_err() {
                continue;
            }
            let n = (self.filed - k * CAP_PAGE_SLOTS).min(CAP_PAGE_SLOTS);
            for j in 0..n {
                if load(CAP_PAGE, j as u64, TMP).is_ok() {
                    let _ = caps::destroy(TASK_BANK, TMP);
                }
            }
            let _ = caps::destroy(TASK_BANK, CAP_PAGE);
        }
        self.filed = 0;
    }
}
