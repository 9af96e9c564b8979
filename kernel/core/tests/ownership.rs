//! Stall-queue ownership is bounded (seed 002; `dispatch.rs`, "Reservations"): a woken owner
//! that cannot get a CPU loses the queue after a quantum, so a mid-priority spinner cannot hold
//! up high-priority callers through a queue reserved for a low-priority owner.
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use common::{inv, H};
use tessera_abi::message::Invocation;
use tessera_abi::order::process::SET_AFFINITY;
use tessera_abi::{InvocationKind, ProcessState, Rights};
use tessera_core::sync::CpuId;
use tessera_core::Cap;

const EP: u8 = 10;
const RESUME: u8 = 3;
const WAIT: [u8; 4] = [30, 0, 0, RESUME];

fn ret(cap: u8) -> Invocation {
    inv(InvocationKind::Return, cap, 0, &[], &[], WAIT)
}

fn pinned(h: &mut H, prio: u64, cpu: u64) -> Cap {
    let p = h.process(prio);
    h.obj(p, SET_AFFINITY, &[cpu], &[]).unwrap();
    p
}

struct Scene {
    h: H,
    s: Cap,
    first: Cap,
    low: Cap,
    high: Cap,
    spinner: Cap,
}

/// Server `s` (priority 4) on CPU 1 answers `first`; `low` (1) and `high` (8), both pinned to
/// CPU 0, wait on its queue in that order (`high` with a SEND); a spinner (5) runs on CPU 0.
/// Then `s` becomes available: `low` owns its queue, queued on CPU 0 at `s`'s priority, below
/// the spinner.
fn scene() -> Scene {
    let mut h = H::new(2, 16, 100, 2);
    let s = pinned(&mut h, 4, 1);
    let first = pinned(&mut h, 4, 1);
    let low = pinned(&mut h, 1, 0);
    let high = pinned(&mut h, 8, 0);
    let spinner = pinned(&mut h, 5, 0);
    for (c, badge) in [(first, 1), (low, 2), (high, 3)] {
        let ep = h.endpoint(s, badge);
        h.give(c, EP, ep, Rights::ALL);
    }
    h.start(s);
    h.tick(1);
    h.syscall(1, ret(0));
    h.start(first);
    h.tick(1);
    h.syscall(1, inv(InvocationKind::Call, EP, 1, &[], &[], WAIT));
    assert_eq!(h.current(1), Some(s.obj), "the server took the first call");
    h.start(low);
    h.tick(0);
    h.syscall(0, inv(InvocationKind::Call, EP, 2, &[], &[], WAIT));
    assert_eq!(h.state(low), ProcessState::Stalled, "the server is busy");
    h.start(spinner);
    h.tick(0);
    assert_eq!(h.current(0), Some(spinner.obj));
    h.start(high);
    h.tick(0);
    assert_eq!(h.current(0), Some(high.obj), "high preempts the spinner");
    h.syscall(0, inv(InvocationKind::Send, EP, 3, &[], &[], WAIT));
    assert_eq!(h.state(high), ProcessState::Stalled, "behind low");
    assert_eq!(h.current(0), Some(spinner.obj));
    h.syscall(1, ret(RESUME));
    Scene {
        h,
        s,
        first,
        low,
        high,
        spinner,
    }
}

/// Runs `ticks` timer ticks on both CPUs, the spinner spinning, the server answering and
/// `first` and `high` waiting in the open whenever they run. The badges the server received,
/// in order, and the tick at which `high`'s SEND was taken.
fn run(sc: &mut Scene, ticks: u32) -> (Vec<u64>, Option<u32>) {
    let h = &mut sc.h;
    let mut served = vec![1];
    let mut high_went_on = None;
    for t in 0..ticks {
        for c in 0..2 {
            h.k.timer_tick(CpuId::new(c).unwrap());
            h.tick(c);
            match h.current(c) {
                Some(p) if p == sc.s.obj => {
                    served.push(h.reply(c).badge);
                    h.syscall(c, ret(RESUME));
                }
                Some(p) if p == sc.high.obj => {
                    assert_eq!(h.error(c), None, "high's SEND was taken");
                    high_went_on.get_or_insert(t);
                    h.syscall(c, ret(0));
                }
                Some(p) if p == sc.first.obj || p == sc.low.obj => {
                    h.syscall(c, ret(0));
                }
                Some(p) => assert_eq!(p, sc.spinner.obj, "nothing else runs"),
                None => {}
            }
            h.check();
        }
    }
    (served, high_went_on)
}

#[test]
fn an_owner_that_gets_no_cpu_for_a_quantum_passes_the_queue_on() {
    let mut sc = scene();
    assert_eq!(
        sc.h.state(sc.low),
        ProcessState::Running,
        "low owns the queue and is ready, below the spinner"
    );
    let quantum = tessera_core::run_queue::DEFAULT_QUANTUM_TICKS;
    let (served, went_on) = run(&mut sc, 3 * quantum);
    assert_eq!(
        served,
        [1, 3],
        "the server took high's message, not held for low"
    );
    let at = went_on.expect("high's SEND completed while the spinner spun");
    assert!(
        at <= quantum + 1,
        "high waited at most a quantum past its call: {at} ticks"
    );
    assert_ne!(
        sc.h.state(sc.low),
        ProcessState::Halted,
        "low is still ready: its call re-runs when it gets a CPU"
    );
    assert_eq!(sc.h.current(0), Some(sc.spinner.obj));
}

/// Once the spinner stops, low gets its CPU: its call re-runs as a newcomer's and is served.
#[test]
fn the_owner_that_lost_the_queue_is_served_later() {
    let mut sc = scene();
    let quantum = tessera_core::run_queue::DEFAULT_QUANTUM_TICKS;
    run(&mut sc, 2 * quantum);
    let spinner = sc.spinner;
    sc.h.obj(spinner, tessera_abi::order::process::HALT, &[], &[])
        .unwrap();
    let (served, _) = run(&mut sc, 4);
    assert_eq!(served, [1, 2], "low's call reached the server at last");
}

/// The planted bug `UnboundedOwnership` keeps the reservation: high waits for good, and this
/// test's first check sees it.
#[cfg(feature = "planted-bugs")]
#[test]
fn without_the_bound_high_is_held_up_for_good() {
    let mut sc = scene();
    sc.h.k
        .plant(Some(tessera_core::planted::PlantedBug::UnboundedOwnership));
    let quantum = tessera_core::run_queue::DEFAULT_QUANTUM_TICKS;
    let (served, went_on) = run(&mut sc, 3 * quantum);
    assert_eq!((served, went_on), (vec![1], None));
    assert_eq!(sc.h.state(sc.high), ProcessState::Stalled);
}
