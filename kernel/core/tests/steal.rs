//! Where ready processes run on SMP (issue 8): an idle CPU takes the highest-priority ready
//! process it can see, not the first it finds, and work that arrives for a busy CPU interrupts
//! an idle one at once instead of waiting for its next timer tick.
#![cfg(not(loom))]

mod common;

use common::H;
use tessera_core::sync::CpuId;

/// Processes are homed round robin in creation order (`Kernel::next_home`); each test builds
/// its homes from that and checks the placement it relies on.
#[test]
fn an_idle_cpu_takes_the_best_ready_process_of_all_queues() {
    let mut h = H::new(3, 8, 100, 2);
    let a = h.process(9);
    let b = h.process(9);
    let low = h.process(1);
    let mid = h.process(5);
    h.start(a);
    h.start(b);
    h.tick(0);
    h.tick(1);
    assert_eq!((h.current(0), h.current(1)), (Some(a.obj), Some(b.obj)));
    h.start(low);
    h.start(mid);
    h.tick(2);
    assert_eq!(
        h.current(2),
        Some(mid.obj),
        "CPU 2's own queue holds priority 1, CPU 0's priority 5: it takes the 5"
    );
}

#[test]
fn work_for_a_busy_cpu_interrupts_an_idle_one() {
    let mut h = H::new(2, 8, 100, 2);
    let busy = h.process(9);
    let _homed_on_1 = h.process(1);
    let late = h.process(3);
    h.start(busy);
    h.tick(0);
    assert_eq!(h.current(0), Some(busy.obj));
    assert_eq!(h.current(1), None, "CPU 1 is idle");
    h.k.platform.ipis.lock().unwrap().clear();
    h.start(late);
    assert!(
        h.k.platform
            .ipis
            .lock()
            .unwrap()
            .contains(&CpuId::new(1).unwrap()),
        "CPU 1 is interrupted to take the process CPU 0 cannot run yet"
    );
    h.tick(1);
    assert_eq!(h.current(1), Some(late.obj));
}

/// A process made ready for an idle CPU from another runs there when that CPU takes the
/// interrupt, and is not passed on: the request that woke the idle CPU is answered by its
/// pick, not taken as an order to preempt what it picked (which queued it again and
/// interrupted the next idle CPU, which did the same).
#[test]
fn work_sent_to_an_idle_cpu_runs_there_and_is_not_passed_on() {
    let mut h = H::new(3, 8, 100, 2);
    let _homed_on_0 = h.process(5);
    let p = h.process(5);
    h.k.platform.ipis.lock().unwrap().clear();
    h.start(p);
    assert_eq!(
        *h.k.platform.ipis.lock().unwrap(),
        [CpuId::new(1).unwrap()],
        "its home, idle, is interrupted"
    );
    h.k.platform.ipis.lock().unwrap().clear();
    h.tick(1);
    assert_eq!(h.current(1), Some(p.obj));
    assert_eq!(
        *h.k.platform.ipis.lock().unwrap(),
        [],
        "CPU 1 runs it without asking another CPU to take it"
    );
    h.tick(1);
    assert_eq!(h.current(1), Some(p.obj), "and keeps it at its next tick");
}
