//! Kernel memory a program makes the kernel allocate through MAP is charged to a bank: mapping
//! records by the unit of `RECORDS_PER_UNIT`, and each region its derived page tables may need,
//! so a program can exhaust its own bank and nothing else. A page's reverse map is bounded.
#![cfg(not(loom))]

mod common;

use common::H;
use tessera_abi::{order, CapType, Error, Rights};
use tessera_core::object::memory::{MAX_PAGE_MAPPINGS, RECORDS_PER_UNIT};
use tessera_core::Cap;

/// A bank of `quota` units from the root bank.
fn bank(h: &mut H, quota: u64) -> Cap {
    let root = h.root;
    h.obj(
        root,
        order::bank::CREATE,
        &[CapType::Bank as u64, quota],
        &[],
    )
    .unwrap()
    .1
    .unwrap()
}

fn create(h: &mut H, bank: Cap, ty: CapType) -> Result<Cap, Error> {
    h.obj(bank, order::bank::CREATE, &[ty as u64], &[])
        .map(|(_, c)| c.unwrap())
}

fn available(h: &mut H, bank: Cap) -> u64 {
    h.obj(bank, order::bank::AVAILABLE, &[], &[]).unwrap().0[0]
}

fn map(h: &mut H, space: Cap, vpn: u64, page: Cap) -> Result<(), Error> {
    h.obj(
        space,
        order::space::MAP,
        &[vpn, Rights::READ.raw()],
        &[page],
    )
    .map(|_| ())
}

#[test]
fn records_and_regions_are_charged_to_the_space_bank_and_come_back() {
    let mut h = H::new(1, 64, 1000, 2);
    let b = bank(&mut h, 100);
    let space = create(&mut h, b, CapType::AddressSpace).unwrap();
    let page = create(&mut h, b, CapType::Page).unwrap();
    let start = available(&mut h, b);
    let cost = |h: &mut H, vpn: u64| {
        let before = available(h, b);
        map(h, space, vpn, page).unwrap();
        before - available(h, b)
    };
    assert_eq!(
        cost(&mut h, 0),
        1 + 3,
        "a records unit, and a new 2 MiB, 1 GiB and 512 GiB region"
    );
    assert_eq!(cost(&mut h, 1), 0, "same unit of records, same regions");
    assert_eq!(cost(&mut h, 512), 1, "a new 2 MiB region");
    assert_eq!(
        cost(&mut h, 1 << 18),
        2,
        "a new 1 GiB region and its 2 MiB one"
    );
    assert_eq!(
        cost(&mut h, 1 << 27),
        3,
        "a new 512 GiB region and the regions in it"
    );
    // A page may be mapped in only so many places: these records map a second one.
    let more = create(&mut h, b, CapType::Page).unwrap();
    let mut units_before = available(&mut h, b);
    for vpn in 2..RECORDS_PER_UNIT as u64 - 3 {
        map(&mut h, space, vpn, more).unwrap();
    }
    assert_eq!(
        available(&mut h, b),
        units_before,
        "the first unit holds {RECORDS_PER_UNIT} records"
    );
    units_before = available(&mut h, b);
    map(&mut h, space, 100, page).unwrap();
    assert_eq!(
        available(&mut h, b),
        units_before - 1,
        "record {} takes a second unit",
        RECORDS_PER_UNIT + 1
    );
    h.obj(space, order::space::UNMAP, &[100], &[]).unwrap();
    assert_eq!(
        available(&mut h, b),
        units_before,
        "UNMAP gives the records unit back"
    );
    h.obj(b, order::bank::DESTROY, &[], &[space]).unwrap();
    assert_eq!(
        available(&mut h, b),
        start + 1 - 1,
        "destroying the space returns all it held (its own unit back, the second page's kept)"
    );
    h.k.check_invariants(&h.cpus).unwrap();
}

#[test]
fn a_program_mapping_sparse_regions_exhausts_only_its_own_bank() {
    let mut h = H::new(1, 64, 1000, 2);
    let mine = bank(&mut h, 20);
    let other = bank(&mut h, 20);
    let space = create(&mut h, mine, CapType::AddressSpace).unwrap();
    let page = create(&mut h, mine, CapType::Page).unwrap();
    let mut mapped = 0;
    let refused = (0..64u64).find_map(|i| match map(&mut h, space, i << 27, page) {
        Ok(()) => {
            mapped += 1;
            None
        }
        Err(e) => Some(e),
    });
    assert_eq!(
        refused,
        Some(Error::OutOfQuota),
        "each 512 GiB region is paid for"
    );
    assert!(mapped < 10, "{mapped} sparse regions mapped from 18 units");
    assert!(
        available(&mut h, mine) < 3,
        "refused only when a sparse MAP's 3 units are not left"
    );
    let theirs = create(&mut h, other, CapType::AddressSpace).unwrap();
    let their_page = create(&mut h, other, CapType::Page).unwrap();
    map(&mut h, theirs, 0, their_page).unwrap();
    h.k.check_invariants(&h.cpus).unwrap();
}

#[test]
fn a_page_is_mapped_in_at_most_max_page_mappings_places() {
    let mut h = H::new(1, 64, 1000, 2);
    let b = bank(&mut h, 500);
    let page = create(&mut h, b, CapType::Page).unwrap();
    let space = create(&mut h, b, CapType::AddressSpace).unwrap();
    for vpn in 0..MAX_PAGE_MAPPINGS as u64 {
        map(&mut h, space, vpn, page).unwrap();
    }
    assert_eq!(
        map(&mut h, space, MAX_PAGE_MAPPINGS as u64, page),
        Err(Error::OutOfQuota),
        "its reverse map is full"
    );
    h.obj(b, order::bank::DESTROY, &[], &[space]).unwrap();
    let again = create(&mut h, b, CapType::AddressSpace).unwrap();
    map(&mut h, again, 0, page).unwrap();
    h.k.check_invariants(&h.cpus).unwrap();
}

/// One space holds `MAX_MAPPINGS` records (64 pages at the 64 places each may be mapped, its
/// bank paying a unit per 64 records and per region); the next MAP, of a page with room in its
/// reverse map, is refused with `OutOfQuota`, charges nothing and leaves no record; an UNMAP
/// makes room for it; destroying the space gives every unit back.
#[test]
fn a_space_takes_max_mappings_records_and_refuses_the_next() {
    use tessera_abi::order::space::MAX_MAPPINGS;
    let pages = MAX_MAPPINGS / MAX_PAGE_MAPPINGS;
    let mut h = H::configured(1, pages as u64 + 8, 10_000, 2, |c| {
        c.pages = pages + 1;
    });
    let b = bank(&mut h, 3 * pages as u64);
    let start = available(&mut h, b);
    let space = create(&mut h, b, CapType::AddressSpace).unwrap();
    let base = 1 << 20;
    for p in 0..pages {
        let page = create(&mut h, b, CapType::Page).unwrap();
        for j in 0..MAX_PAGE_MAPPINGS {
            let vpn = base + (p * MAX_PAGE_MAPPINGS + j) as u64;
            assert_eq!(map(&mut h, space, vpn, page), Ok(()), "MAP at {vpn:#x}");
        }
    }
    let spare = create(&mut h, b, CapType::Page).unwrap();
    let before = available(&mut h, b);
    let past = base + MAX_MAPPINGS as u64;
    assert_eq!(map(&mut h, space, past, spare), Err(Error::OutOfQuota));
    assert_eq!(available(&mut h, b), before, "a refused MAP costs nothing");
    assert_eq!(h.k.mapped_frame(space.obj, past), None);
    h.obj(space, order::space::UNMAP, &[base], &[]).unwrap();
    assert_eq!(map(&mut h, space, past, spare), Ok(()));
    h.check();
    h.obj(b, order::bank::DESTROY, &[], &[space]).unwrap();
    h.obj(b, order::bank::DESTROY, &[], &[spare]).unwrap();
    assert_eq!(
        available(&mut h, b),
        start - pages as u64,
        "only the pages are still held"
    );
}
