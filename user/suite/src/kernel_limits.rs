//! The kernel's stated limits are the ones a program meets: one address space takes
//! `MAX_MAPPINGS` records, and the next MAP is refused with an error and costs nothing; and a
//! program may hold many more capability pages than the 32 the kernel once had room for in
//! all, which stopped every task of `user/tasks` near 2,000 mapped pages (a filing page per 64).

use crate::tester::{ensure, step, Outcome, SCRATCH};
use alloc::format;
use tessera_user::abi::cap::CAP_PAGE_SLOTS;
use tessera_user::abi::order::cap_page;
use tessera_user::abi::order::space::{self, MAX_MAPPINGS};
use tessera_user::abi::{CapType, Error, Rights};
use tessera_user::{caps, invoke, println, slots};

const SPACE: u8 = SCRATCH;
/// The directory of `mappings_up_to_the_limit`'s filing pages; the newest page of
/// `cap_pages_by_the_hundred`.
const FILE: u8 = SCRATCH + 1;
const TMP: u8 = SCRATCH + 2;
/// The page mapped by the refused MAP.
const SPARE: u8 = SCRATCH + 3;
/// The filing page being filled, or emptied.
const LEAF: u8 = SCRATCH + 4;
/// Where the test space's mappings start (page number): 8 GiB up, past no region of note.
const BASE_VPN: u64 = 0x20_0000;
/// Capability pages `cap_pages_by_the_hundred` must be able to hold at once.
const CAP_PAGES: usize = 160;
/// Where it stops if nothing refuses it (past the kernel's table of 2,048, below the bank's
/// quota).
const CAP_PAGES_TRIED: usize = 4096;

fn store(page: u8, entry: usize, cap: u8) -> Result<(), Error> {
    invoke::call(page, cap_page::STORE, &[entry as u64], &[cap]).map(|_| ())
}

fn load(page: u8, entry: usize, into: u8) -> Result<(), Error> {
    invoke::call_for_cap(page, cap_page::LOAD, &[entry as u64], &[], into).map(|_| ())
}

/// A fresh space gets `MAX_MAPPINGS` records (1,024 pages, each mapped at the 64 places a
/// page may be, filed 64 to a capability page); the next MAP is refused with `OutOfQuota`,
/// leaves the bank as it was and no record behind; after an UNMAP the same MAP succeeds.
pub fn mappings_up_to_the_limit() -> Outcome {
    let pages = MAX_MAPPINGS / CAP_PAGE_SLOTS;
    step(
        "space",
        caps::create(slots::BANK, CapType::AddressSpace, SPACE),
    )?;
    let made = step(
        "directory",
        caps::create(slots::BANK, CapType::CapPage, FILE),
    )
    .and_then(|()| {
        step(
            "spare page",
            caps::create(slots::BANK, CapType::Page, SPARE),
        )
    });
    let mut filed: usize = 0;
    let outcome = made.and_then(|()| {
        for p in 0..pages {
            let (leaf, entry) = (p / CAP_PAGE_SLOTS, p % CAP_PAGE_SLOTS);
            if entry == 0 {
                step(
                    "filing page",
                    caps::create(slots::BANK, CapType::CapPage, LEAF),
                )?;
                if let Err(e) = store(FILE, leaf, LEAF) {
                    let _ = caps::destroy(slots::BANK, LEAF);
                    return Err(format!("file filing page {leaf}: {e:?}"));
                }
            }
            step("page", caps::create(slots::BANK, CapType::Page, TMP))?;
            if let Err(e) = store(LEAF, entry, TMP) {
                let _ = caps::destroy(slots::BANK, TMP);
                return Err(format!("file page {p}: {e:?}"));
            }
            filed += 1;
            for j in 0..CAP_PAGE_SLOTS {
                let n = p * CAP_PAGE_SLOTS + j;
                let r = caps::map(SPACE, BASE_VPN + n as u64, TMP, Rights::READ);
                step(&format!("MAP number {}", n + 1), r)?;
            }
        }
        let before = step("available", caps::available(slots::BANK))?;
        let past = BASE_VPN + MAX_MAPPINGS as u64;
        let refused = caps::map(SPACE, past, SPARE, Rights::READ);
        let after = step("available", caps::available(slots::BANK))?;
        ensure(refused == Err(Error::OutOfQuota), || {
            format!("MAP number {} answered {refused:?}", MAX_MAPPINGS + 1)
        })?;
        ensure(before == after, || {
            format!("the refused MAP changed the bank: {before:?} -> {after:?}")
        })?;
        let left = step("LOOKUP", invoke::call(SPACE, space::LOOKUP, &[past], &[]))?.data[0];
        ensure(left == 0, || {
            format!("the refused MAP left rights {left:#x}")
        })?;
        step("UNMAP", caps::unmap(SPACE, BASE_VPN))?;
        step(
            "MAP after UNMAP",
            caps::map(SPACE, past, SPARE, Rights::READ),
        )
    });
    let _ = caps::destroy(slots::BANK, SPACE);
    for leaf in 0..filed.div_ceil(CAP_PAGE_SLOTS) {
        if load(FILE, leaf, LEAF).is_err() {
            continue;
        }
        for entry in 0..(filed - leaf * CAP_PAGE_SLOTS).min(CAP_PAGE_SLOTS) {
            if load(LEAF, entry, TMP).is_ok() {
                let _ = caps::destroy(slots::BANK, TMP);
            }
        }
        let _ = caps::destroy(slots::BANK, LEAF);
    }
    let _ = caps::destroy(slots::BANK, SPARE);
    let _ = caps::destroy(slots::BANK, FILE);
    outcome
}

/// At least `CAP_PAGES` capability pages alive at once, each holding the one made before it
/// (a chain the test walks back to destroy them all); making more until the kernel's table is
/// full is refused with `OutOfQuota`, as a hostile program's flood would be.
pub fn cap_pages_by_the_hundred() -> Outcome {
    let mut made = 0;
    let outcome = (|| {
        for i in 0..CAP_PAGES_TRIED {
            match caps::create(slots::BANK, CapType::CapPage, TMP) {
                Ok(()) => made += 1,
                Err(e) => {
                    ensure(e == Error::OutOfQuota, || {
                        format!("capability page {} refused with {e:?}", i + 1)
                    })?;
                    break;
                }
            }
            if i > 0 {
                step("link", store(TMP, 0, FILE))?;
            }
            step("keep", caps::set_cap(slots::SELF, FILE, TMP, Rights::ALL))?;
        }
        println!("usertest note: {made} capability pages alive at once, the next refused");
        ensure((CAP_PAGES..CAP_PAGES_TRIED).contains(&made), || {
            format!("{made} capability pages made (at least {CAP_PAGES}, then a refusal)")
        })
    })();
    for _ in 0..made {
        let _ = load(FILE, 0, TMP);
        let _ = caps::destroy(slots::BANK, FILE);
        let _ = caps::set_cap(slots::SELF, FILE, TMP, Rights::ALL);
    }
    outcome
}
