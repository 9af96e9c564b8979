//! Memory across processes and CPUs: a destroyed page is unreachable through any derived
//! mapping or TLB before its frame can be reused, and two CPUs faulting in one 2 MiB region
//! at once both get the one derived table.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{call, H};
use tessera_abi::{order, CapType, Error, Rights};

const RW: u64 = Rights::READ.raw() | Rights::WRITE.raw();

#[test]
fn a_destroyed_page_is_unreachable_through_old_mappings() {
    let mut h = H::new(2, 8, 100, 2);
    let a = h.process(1);
    let space = h.create(CapType::AddressSpace);
    let page = h.create(CapType::Page);
    h.obj(space, order::space::MAP, &[7, RW], &[page]).unwrap();
    h.obj(a, order::process::SET_SPACE, &[], &[space]).unwrap();
    h.start(a);
    h.tick(0);
    assert_eq!(h.current(0), Some(a.obj));
    let frame = h.touch(0, 7).expect("the mapped page is reachable");
    h.check();
    let root = h.root;
    h.obj(root, order::bank::DESTROY, &[], &[page]).unwrap();
    assert_eq!(
        h.mmu().entry(space.obj, 7),
        None,
        "the derived entry went with the page"
    );
    h.check();
    h.tick(0);
    assert_eq!(
        h.touch(0, 7),
        Err(Error::BadAddress),
        "the old address faults once the page is destroyed"
    );
    let b = h.process(1);
    let other = h.create(CapType::AddressSpace);
    h.obj(b, order::process::SET_SPACE, &[], &[other]).unwrap();
    let mut reused = false;
    for vpn in 0..4 {
        let p = h.create(CapType::Page);
        h.obj(other, order::space::MAP, &[vpn, RW], &[p]).unwrap();
        reused |= h.k.mapped_frame(other.obj, vpn).map(|(f, _)| f) == Some(frame);
    }
    assert!(
        reused,
        "the frame went back to the allocator once no CPU could reach it"
    );
    assert_eq!(
        h.touch(0, 7),
        Err(Error::BadAddress),
        "and A still cannot reach it"
    );
    h.check();
}

#[test]
fn unmap_and_space_destroy_drop_derived_entries_and_tables() {
    let mut h = H::new(1, 8, 100, 2);
    let a = h.process(1);
    let space = h.create(CapType::AddressSpace);
    let page = h.create(CapType::Page);
    h.give(a, 5, space, Rights::ALL);
    for vpn in [3, 4, 700] {
        h.obj(space, order::space::MAP, &[vpn, RW], &[page])
            .unwrap();
    }
    h.obj(a, order::process::SET_SPACE, &[], &[space]).unwrap();
    h.start(a);
    h.tick(0);
    for vpn in [3, 4, 700] {
        h.touch(0, vpn).unwrap();
    }
    assert_eq!(h.k.derived_tables(), 2);
    h.syscall(0, call(5, order::space::UNMAP, &[3], &[], 0));
    assert_eq!(h.error(0), None);
    assert_eq!(h.mmu().entry(space.obj, 3), None);
    assert_eq!(h.touch(0, 3), Err(Error::BadAddress));
    let free = h.mmu().free_frames();
    let root = h.root;
    h.obj(root, order::bank::DESTROY, &[], &[space]).unwrap();
    assert_eq!(
        h.k.derived_tables(),
        0,
        "the space's derived tables went with it"
    );
    h.tick(0);
    assert_eq!(
        h.mmu().free_frames(),
        free + 2,
        "and their frames, once CPU 0 passed the kernel"
    );
    h.obj(root, order::bank::DESTROY, &[], &[page]).unwrap();
    h.check();
}

#[test]
fn two_cpus_faulting_in_one_region_share_its_table() {
    let mut h = H::new(2, 8, 100, 2);
    let space = h.create(CapType::AddressSpace);
    let (a, b) = (h.process(1), h.process(1));
    for (vpn, p) in [(0, a), (1, b)] {
        let page = h.create(CapType::Page);
        h.obj(space, order::space::MAP, &[vpn, RW], &[page])
            .unwrap();
        h.obj(p, order::process::SET_SPACE, &[], &[space]).unwrap();
        h.start(p);
    }
    h.tick(0);
    h.tick(1);
    assert!(h.current(0).is_some() && h.current(1).is_some());
    *h.k.platform.alloc_gate.lock().unwrap() = Some(Arc::new(Barrier::new(2)));
    let mut cpus = std::mem::take(&mut h.cpus);
    let k = &h.k;
    let results: Vec<_> = std::thread::scope(|s| {
        let runs: Vec<_> = cpus
            .iter_mut()
            .zip([0, 1])
            .map(|(cpu, vpn)| s.spawn(move || k.resolve_fault(cpu, vpn)))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    h.cpus = cpus;
    *h.k.platform.alloc_gate.lock().unwrap() = None;
    let tables: Vec<_> = results
        .iter()
        .map(|r| r.expect("both faults resolve").table)
        .collect();
    assert_eq!(tables[0], tables[1], "one derived table for the region");
    assert_eq!(h.k.derived_tables(), 1);
    h.check();
}

#[test]
fn faults_racing_unmap_and_destroy_leave_no_stale_entry() {
    const ROUNDS: u64 = 1000;
    let mut h = H::new(2, 64, 10_000, 2);
    let a = h.process(1);
    let space = h.create(CapType::AddressSpace);
    h.obj(a, order::process::SET_SPACE, &[], &[space]).unwrap();
    h.start(a);
    h.tick(0);
    assert_eq!(h.current(0), Some(a.obj));
    let root = h.root;
    let target = AtomicU64::new(u64::MAX);
    let stop = AtomicBool::new(false);
    let mut cpus = std::mem::take(&mut h.cpus);
    let (c0, c1) = cpus.split_at_mut(1);
    let k = &h.k;
    std::thread::scope(|s| {
        s.spawn(|| {
            let cpu = &mut c0[0];
            while !stop.load(Ordering::Acquire) {
                let vpn = target.load(Ordering::Acquire);
                k.platform.mmu.lock().unwrap().kernel_entered(0);
                let _ = k.resolve_fault(cpu, vpn);
                k.platform
                    .mmu
                    .lock()
                    .unwrap()
                    .user_entered(0, Some(space.obj));
            }
        });
        let cpu = &mut c1[0];
        for vpn in 0..ROUNDS {
            let (_, page) = k
                .kernel_invoke(cpu, root, order::bank::CREATE, &[CapType::Page as u64], &[])
                .unwrap();
            let page = page.unwrap();
            k.kernel_invoke(cpu, space, order::space::MAP, &[vpn, RW], &[page])
                .unwrap();
            target.store(vpn, Ordering::Release);
            let start = Instant::now();
            while k
                .platform
                .mmu
                .lock()
                .unwrap()
                .entry(space.obj, vpn)
                .is_none()
                && start.elapsed() < Duration::from_millis(1)
            {
                std::thread::yield_now();
            }
            if vpn % 2 == 0 {
                k.kernel_invoke(cpu, space, order::space::UNMAP, &[vpn], &[])
                    .unwrap();
            }
            k.kernel_invoke(cpu, root, order::bank::DESTROY, &[], &[page])
                .unwrap();
        }
        stop.store(true, Ordering::Release);
    });
    h.cpus = cpus;
    h.check();
}
