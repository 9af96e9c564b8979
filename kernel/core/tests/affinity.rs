//! CPU affinity, by hand: a pinned process runs only on its CPU (no other CPU steals it, a
//! wake-up queues it there, one running elsewhere moves at that CPU's next exit); a CPU not
//! online is refused; `INFO` reports the affinity.
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use common::{inv, H};
use tessera_abi::order::process::{ANY_CPU, INFO, SET_AFFINITY};
use tessera_abi::{order, Error, InvocationKind, ProcessInfo, Rights};
use tessera_core::Cap;

const EP: u8 = 10;

fn affinity(h: &mut H, p: Cap) -> Option<u32> {
    let (d, _) = h.obj(p, INFO, &[], &[]).unwrap();
    ProcessInfo::unpack(d).unwrap().affinity
}

#[test]
fn only_a_cpu_online_is_accepted_and_info_shows_it() {
    let mut h = H::new(2, 8, 100, 1);
    let p = h.process(1);
    assert_eq!(affinity(&mut h, p), None);
    for bad in [2, 3, 64, u64::MAX - 1] {
        assert_eq!(
            h.obj(p, SET_AFFINITY, &[bad], &[]).map(|_| ()),
            Err(Error::InvalidArgument),
            "CPU {bad}"
        );
    }
    assert_eq!(affinity(&mut h, p), None, "a refused order changes nothing");
    h.obj(p, SET_AFFINITY, &[1], &[]).unwrap();
    assert_eq!(affinity(&mut h, p), Some(1));
    h.obj(p, SET_AFFINITY, &[ANY_CPU], &[]).unwrap();
    assert_eq!(affinity(&mut h, p), None);
    let read_only = p.restrict(Rights::READ);
    assert_eq!(
        h.obj(read_only, SET_AFFINITY, &[0], &[]).map(|_| ()),
        Err(Error::MissingRights)
    );
    h.check();
}

#[test]
fn an_idle_cpu_does_not_steal_a_process_pinned_elsewhere() {
    let mut h = H::new(2, 8, 100, 1);
    let pinned = h.process(1);
    h.obj(pinned, SET_AFFINITY, &[1], &[]).unwrap();
    h.start(pinned);
    h.check();
    h.tick(0);
    assert_eq!(
        h.current(0),
        None,
        "CPU 0 leaves CPU 1's pinned process alone"
    );
    h.tick(1);
    assert_eq!(h.current(1), Some(pinned.obj));
    let free = h.process(1);
    let free_on_1 = h.process(1);
    h.obj(free_on_1, SET_AFFINITY, &[1], &[]).unwrap();
    h.obj(free_on_1, SET_AFFINITY, &[ANY_CPU], &[]).unwrap();
    h.start(free_on_1);
    h.start(free);
    h.tick(0);
    assert!(h.current(0).is_some(), "an unpinned process is still taken");
    h.check();
}

#[test]
fn a_process_pinned_away_from_its_cpu_moves_at_that_cpus_next_exit() {
    let mut h = H::new(2, 8, 100, 1);
    let p = h.process(1);
    h.start(p);
    h.tick(0);
    assert_eq!(h.current(0), Some(p.obj));
    h.obj(p, SET_AFFINITY, &[1], &[]).unwrap();
    h.tick(0);
    assert_eq!(h.current(0), None, "it left CPU 0");
    h.tick(1);
    assert_eq!(h.current(1), Some(p.obj), "and runs on CPU 1");
    let (d, _) = h.obj(p, INFO, &[], &[]).unwrap();
    assert_eq!(ProcessInfo::unpack(d).unwrap().cpu, Some(1));
    h.check();
}

#[test]
fn a_pinned_process_woken_from_another_cpu_is_queued_on_its_own() {
    let mut h = H::new(2, 8, 100, 2);
    let s = h.process(1);
    let c = h.process(1);
    let ep = h.endpoint(s, 1);
    h.give(c, EP, ep, Rights::ALL);
    h.obj(s, SET_AFFINITY, &[1], &[]).unwrap();
    h.obj(c, SET_AFFINITY, &[0], &[]).unwrap();
    h.start(s);
    h.tick(1);
    assert_eq!(h.current(1), Some(s.obj));
    h.syscall(1, inv(InvocationKind::Return, 0, 0, &[], &[], [0; 4]));
    h.start(c);
    h.tick(0);
    assert_eq!(h.current(0), Some(c.obj));
    h.k.platform.ipis.lock().unwrap().clear();
    h.syscall(0, inv(InvocationKind::Post, EP, 1, &[5], &[], [0; 4]));
    assert_eq!(
        h.k.platform.ipis.lock().unwrap().clone(),
        vec![h.cpus[1].id],
        "its CPU is told"
    );
    assert_eq!(h.current(0), Some(c.obj));
    h.tick(1);
    assert_eq!(h.current(1), Some(s.obj), "it runs on its own CPU");
    h.check();
    h.obj(c, order::process::HALT, &[], &[]).unwrap();
}
