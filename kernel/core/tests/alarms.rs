//! Alarms end to end, by hand: an armed alarm POSTs its word to its endpoint at the first
//! kernel exit at or after its deadline, once, never early; several fire in deadline order;
//! each fires only on the CPU that armed it; a halted recipient gets the POST queued and
//! receives it once when resumed; periodic alarms skip missed periods; re-arm, cancel and
//! destroy; bad arguments are refused.
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use std::sync::atomic::Ordering;

use common::{call, inv, H};
use tessera_abi::message::MessageInfo;
use tessera_abi::order::alarm::{ARM, CANCEL, MAX_DEADLINE, MIN_PERIOD, STATUS};
use tessera_abi::post::ALARM_FIRED;
use tessera_abi::{order, CapType, Error, InvocationKind, ProcessState, Rights};
use tessera_core::Cap;

const RESUME: u8 = 3;
const WAIT: [u8; 4] = [30, 0, 0, RESUME];

/// One CPU, a server `s` in its open wait, and an endpoint to it (badge 7).
fn setup(cpus: usize) -> (H, Cap, Cap) {
    let mut h = H::new(cpus, 16, 100, 2);
    let s = h.process(1);
    let ep = h.endpoint(s, 7);
    h.start(s);
    h.tick(0);
    assert_eq!(h.current(0), Some(s.obj));
    wait(&mut h, 0);
    (h, s, ep)
}

/// The current process of CPU `c` enters its open wait.
fn wait(h: &mut H, c: usize) {
    h.syscall(c, inv(InvocationKind::Return, 0, 0, &[], &[], WAIT));
}

fn set_clock(h: &H, ns: u64) {
    h.k.platform.clock.store(ns, Ordering::SeqCst);
}

fn arm(h: &mut H, alarm: Cap, deadline: u64, period: u64, word: u64, ep: Cap) -> Result<(), Error> {
    h.obj(alarm, ARM, &[deadline, period, word], &[ep])
        .map(|_| ())
}

/// The alarm words CPU `c`'s current process received, one per open wait, until it gets none.
fn received(h: &mut H, c: usize) -> Vec<u64> {
    let mut words = Vec::new();
    loop {
        let Some(me) = h.current(c) else {
            return words;
        };
        let r = h.reply(c);
        let info = MessageInfo::unpack(r.info).unwrap();
        if info.kind != InvocationKind::Post || info.order != ALARM_FIRED {
            return words;
        }
        assert_eq!(r.badge, 7, "through the armed endpoint");
        words.push(r.data[0]);
        wait(h, c);
        if h.current(c) != Some(me) {
            return words;
        }
    }
}

#[test]
fn an_alarm_fires_once_at_its_deadline_and_never_before() {
    let (mut h, s, ep) = setup(1);
    let alarm = h.create(CapType::Alarm);
    arm(&mut h, alarm, 1_000, 0, 42, ep).unwrap();
    assert_eq!(h.k.next_alarm(h.cpus[0].id), Some(1_000));
    set_clock(&h, 999);
    h.tick(0);
    assert_eq!(h.current(0), None, "one nanosecond early: nothing");
    assert_eq!(h.state(s), ProcessState::Available);
    set_clock(&h, 1_000);
    h.tick(0);
    assert_eq!(h.current(0), Some(s.obj), "posted at the deadline");
    assert_eq!(received(&mut h, 0), vec![42]);
    set_clock(&h, 1_000_000);
    h.tick(0);
    assert_eq!(h.current(0), None, "once only");
    assert_eq!(
        h.obj(alarm, STATUS, &[], &[]).unwrap().0,
        [0; 4],
        "disarmed"
    );
    assert_eq!(h.k.next_alarm(h.cpus[0].id), None);
    h.check();
}

#[test]
fn alarms_fire_in_deadline_order() {
    let (mut h, s, ep) = setup(1);
    let alarms: Vec<Cap> = (0..4).map(|_| h.create(CapType::Alarm)).collect();
    for (a, d) in alarms.iter().zip([300u64, 100, 400, 200]) {
        arm(&mut h, *a, d, 0, d, ep).unwrap();
    }
    set_clock(&h, 350);
    h.tick(0);
    assert_eq!(h.current(0), Some(s.obj));
    assert_eq!(
        received(&mut h, 0),
        vec![100, 200, 300],
        "the fourth is not due"
    );
    set_clock(&h, 400);
    h.tick(0);
    assert_eq!(received(&mut h, 0), vec![400]);
    h.check();
}

#[test]
fn the_first_exit_after_the_deadline_fires_it_even_from_a_quiet_system_call() {
    let (mut h, s, ep) = setup(1);
    let c = h.process(1);
    let alarm = h.create(CapType::Alarm);
    h.give(c, 5, alarm, Rights::ALL);
    h.start(c);
    h.tick(0);
    assert_eq!(h.current(0), Some(c.obj));
    arm(&mut h, alarm, 10, 0, 1, ep).unwrap();
    set_clock(&h, 10);
    h.syscall(0, call(5, order::GET_TYPE, &[], &[], 0));
    assert_eq!(h.current(0), Some(c.obj), "the caller goes on");
    assert_eq!(
        h.state(s),
        ProcessState::Running,
        "the server has its POST and is ready"
    );
    h.check();
}

#[test]
fn an_alarm_fires_only_on_the_cpu_that_armed_it() {
    let (mut h, s, ep) = setup(2);
    let c = h.process(1);
    let alarm = h.create(CapType::Alarm);
    h.give(c, 5, alarm, Rights::ALL);
    h.give(c, 6, ep, Rights::ALL);
    h.obj(c, order::process::SET_AFFINITY, &[1], &[]).unwrap();
    h.start(c);
    h.tick(1);
    assert_eq!(h.current(1), Some(c.obj));
    h.syscall(1, call(5, ARM, &[500, 0, 9], &[6], 0));
    assert_eq!(h.error(1), None);
    assert_eq!(h.k.next_alarm(h.cpus[1].id), Some(500));
    assert_eq!(h.k.next_alarm(h.cpus[0].id), None);
    set_clock(&h, 600);
    h.tick(0);
    assert_eq!(
        h.state(s),
        ProcessState::Available,
        "CPU 0 has no alarm of its own"
    );
    h.tick(1);
    assert_eq!(h.state(s), ProcessState::Running, "CPU 1 fired it");
    h.tick(0);
    assert_eq!(h.current(0), Some(s.obj));
    assert_eq!(received(&mut h, 0), vec![9]);
    h.check();
}

#[test]
fn a_halted_recipient_receives_the_expiry_once_when_resumed() {
    let (mut h, s, ep) = setup(1);
    let alarm = h.create(CapType::Alarm);
    arm(&mut h, alarm, 50, 0, 3, ep).unwrap();
    h.obj(s, order::process::HALT, &[], &[]).unwrap();
    set_clock(&h, 60);
    h.tick(0);
    assert_eq!(h.current(0), None);
    h.check();
    set_clock(&h, 70);
    h.tick(0);
    h.obj(s, order::process::RESUME, &[], &[]).unwrap();
    h.tick(0);
    assert_eq!(h.current(0), Some(s.obj));
    assert_eq!(
        received(&mut h, 0),
        vec![3],
        "queued while halted, delivered once"
    );
    set_clock(&h, 10_000);
    h.tick(0);
    assert_eq!(h.current(0), None);
    h.check();
}

#[test]
fn a_periodic_alarm_fires_each_period_and_skips_the_ones_it_missed() {
    let (mut h, _s, ep) = setup(1);
    let alarm = h.create(CapType::Alarm);
    arm(&mut h, alarm, MIN_PERIOD, MIN_PERIOD, 8, ep).unwrap();
    set_clock(&h, MIN_PERIOD);
    h.tick(0);
    assert_eq!(received(&mut h, 0), vec![8]);
    set_clock(&h, 2 * MIN_PERIOD - 1);
    h.tick(0);
    assert_eq!(h.current(0), None, "not yet the second period");
    set_clock(&h, 5 * MIN_PERIOD + 1);
    h.tick(0);
    assert_eq!(
        received(&mut h, 0),
        vec![8],
        "three periods passed: one POST"
    );
    let st = h.obj(alarm, STATUS, &[], &[]).unwrap().0;
    assert_eq!(
        st,
        [1, 6 * MIN_PERIOD, MIN_PERIOD, 0],
        "next due one period on"
    );
    assert_eq!(h.obj(alarm, CANCEL, &[], &[]).unwrap().0[0], 1);
    assert_eq!(
        h.obj(alarm, CANCEL, &[], &[]).unwrap().0[0],
        0,
        "already disarmed"
    );
    set_clock(&h, 100 * MIN_PERIOD);
    h.tick(0);
    assert_eq!(h.current(0), None, "cancelled");
    h.check();
}

#[test]
fn re_arming_replaces_and_destroying_cancels() {
    let (mut h, _s, ep) = setup(1);
    let a = h.create(CapType::Alarm);
    let b = h.create(CapType::Alarm);
    arm(&mut h, a, 100, 0, 1, ep).unwrap();
    arm(&mut h, a, 300, 0, 2, ep).unwrap();
    arm(&mut h, b, 200, 0, 3, ep).unwrap();
    h.check();
    let root = h.root;
    h.obj(root, order::bank::DESTROY, &[], &[b]).unwrap();
    h.check();
    assert_eq!(h.k.next_alarm(h.cpus[0].id), Some(300), "b left the queue");
    set_clock(&h, 250);
    h.tick(0);
    assert_eq!(
        h.current(0),
        None,
        "neither the first arming of a nor the destroyed b"
    );
    set_clock(&h, 300);
    h.tick(0);
    assert_eq!(received(&mut h, 0), vec![2]);
    assert_eq!(h.obj(b, STATUS, &[], &[]), Err(Error::NullCapability));
    h.check();
}

#[test]
fn a_recipient_destroyed_after_arming_gets_nothing_and_disarms_the_alarm() {
    let (mut h, s, ep) = setup(1);
    let alarm = h.create(CapType::Alarm);
    arm(&mut h, alarm, 100, MIN_PERIOD, 1, ep).unwrap();
    let root = h.root;
    h.obj(root, order::bank::DESTROY, &[], &[s]).unwrap();
    set_clock(&h, 100);
    h.tick(0);
    assert_eq!(h.obj(alarm, STATUS, &[], &[]).unwrap().0[0], 0);
    h.check();
}

#[test]
fn bad_arguments_are_refused_and_change_nothing() {
    let (mut h, s, ep) = setup(1);
    let alarm = h.create(CapType::Alarm);
    let refused = [
        (MAX_DEADLINE + 1, 0, ep, Error::InvalidArgument),
        (u64::MAX, 0, ep, Error::InvalidArgument),
        (10, MIN_PERIOD - 1, ep, Error::InvalidArgument),
        (10, MAX_DEADLINE + 1, ep, Error::InvalidArgument),
        (10, 0, Cap::NULL, Error::NullArgument),
        (10, 0, s, Error::WrongType),
    ];
    for (deadline, period, to, e) in refused {
        assert_eq!(
            arm(&mut h, alarm, deadline, period, 0, to),
            Err(e),
            "{deadline} {period}"
        );
    }
    let root = h.root;
    let dead = h.process(1);
    let dead_ep = h.endpoint(dead, 1);
    h.obj(root, order::bank::DESTROY, &[], &[dead]).unwrap();
    assert_eq!(
        arm(&mut h, alarm, 10, 0, 0, dead_ep),
        Err(Error::NullArgument),
        "destroyed endpoint"
    );
    let read_only = alarm.restrict(Rights::READ);
    assert_eq!(
        arm(&mut h, read_only, 10, 0, 0, ep),
        Err(Error::MissingRights)
    );
    assert_eq!(h.obj(alarm, 99, &[], &[]), Err(Error::UnknownOrder));
    assert_eq!(h.obj(alarm, STATUS, &[], &[]).unwrap().0, [0; 4]);
    assert_eq!(h.k.next_alarm(h.cpus[0].id), None);
    h.check();
}

#[test]
fn an_alarm_costs_its_bank_one_unit() {
    let mut h = H::new(1, 8, 3, 1);
    let root = h.root;
    let avail = |h: &mut H| h.obj(root, order::bank::AVAILABLE, &[], &[]).unwrap().0[0];
    let before = avail(&mut h);
    let a = h.create(CapType::Alarm);
    assert_eq!(avail(&mut h), before - 1);
    h.create(CapType::Alarm);
    h.create(CapType::Alarm);
    let full = h.obj(root, order::bank::CREATE, &[CapType::Alarm as u64], &[]);
    assert_eq!(full.map(|_| ()), Err(Error::OutOfQuota));
    h.obj(root, order::bank::DESTROY, &[], &[a]).unwrap();
    assert_eq!(avail(&mut h), 1);
    h.check();
}

#[test]
fn an_expiry_while_the_previous_post_is_queued_merges_into_it_with_the_latest_word() {
    let (mut h, s, ep) = setup(1);
    let alarm = h.create(CapType::Alarm);
    h.obj(s, order::process::HALT, &[], &[]).unwrap();
    arm(&mut h, alarm, 10, 0, 1, ep).unwrap();
    set_clock(&h, 10);
    h.tick(0);
    arm(&mut h, alarm, 20, 0, 2, ep).unwrap();
    set_clock(&h, 20);
    h.tick(0);
    h.check();
    h.obj(s, order::process::RESUME, &[], &[]).unwrap();
    h.tick(0);
    assert_eq!(received(&mut h, 0), vec![2], "one message, the later word");
    h.check();
}

/// An alarm wakes its recipient at an idle CPU's exit: that CPU runs it at once and interrupts
/// no other. The reschedule request the wake-up leaves on an idle CPU is answered by that
/// CPU's next pick; taken instead by the dispatch after it, it preempted the process just
/// picked, queued it again and interrupted another idle CPU, which stole it with a request
/// of its own pending and did the same: on 4 CPUs two idle CPUs passed a woken process
/// between them for tens to thousands of milliseconds before either let it run.
#[test]
fn an_alarm_wakes_its_recipient_on_an_idle_cpu_without_interrupting_another() {
    let (mut h, s, ep) = setup(3);
    let alarm = h.create(CapType::Alarm);
    arm(&mut h, alarm, 1_000, 0, 5, ep).unwrap();
    set_clock(&h, 1_000);
    h.k.platform.ipis.lock().unwrap().clear();
    h.tick(0);
    assert_eq!(h.current(0), Some(s.obj), "CPU 0 runs what its alarm woke");
    assert_eq!(
        *h.k.platform.ipis.lock().unwrap(),
        [],
        "no other CPU is asked to take a process CPU 0 runs itself"
    );
    for c in [1, 2] {
        assert_eq!(h.tick(c), tessera_core::scheduler::Exit::Idle);
    }
    assert_eq!(received(&mut h, 0), vec![5]);
    h.check();
}
