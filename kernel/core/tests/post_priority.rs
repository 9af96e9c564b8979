//! Post activities run at their sender's priority (seed 003; `post_run.rs`): a queued POST
//! whose recipient becomes available is delivered before processes of lower priority run, and
//! after processes of higher priority.
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use common::{inv, H};
use tessera_abi::message::Invocation;
use tessera_abi::{order, InvocationKind, ProcessState, Rights};
use tessera_core::Cap;

const EP: u8 = 10;
const RESUME: u8 = 3;
const WAIT: [u8; 4] = [30, 0, 0, RESUME];
const ORDER: u32 = 7;

fn ret(cap: u8) -> Invocation {
    inv(InvocationKind::Return, cap, 0, &[], &[], WAIT)
}

/// On one CPU: server `t` (priority 0) holds a CALL from `m` (priority 3), and `sender` (of
/// priority `prio`) has queued a POST on it. Then `t` answers `m`: `m` is ready and `t`
/// available, with the POST at the head of its queue. Returns the world, `t` and `m`.
fn scene(prio: u64) -> (H, Cap, Cap) {
    let mut h = H::new(1, 16, 100, 2);
    let t = h.process(0);
    let m = h.process(3);
    let sender = h.process(prio);
    for (c, badge) in [(m, 2), (sender, 1)] {
        let ep = h.endpoint(t, badge);
        h.give(c, EP, ep, Rights::ALL);
    }
    h.start(t);
    h.tick(0);
    h.syscall(0, ret(0));
    h.start(m);
    h.tick(0);
    h.syscall(0, inv(InvocationKind::Call, EP, 1, &[], &[], WAIT));
    assert_eq!(h.current(0), Some(t.obj), "t took m's call");
    h.start(sender);
    h.tick(0);
    assert_eq!(h.current(0), Some(sender.obj));
    h.syscall(0, inv(InvocationKind::Post, EP, ORDER, &[42], &[], [0; 4]));
    assert_eq!(h.error(0), None, "the POST was queued");
    h.syscall(0, ret(0));
    assert_eq!(h.current(0), Some(t.obj));
    h.syscall(0, ret(RESUME));
    (h, t, m)
}

#[test]
fn a_high_priority_senders_post_is_delivered_before_a_lower_process_runs() {
    let (mut h, t, m) = scene(9);
    assert_eq!(h.current(0), Some(m.obj), "m runs, answered");
    assert_eq!(
        h.state(t),
        ProcessState::Running,
        "t already holds the POST (ready below m): it was delivered before m ran"
    );
    h.syscall(0, ret(0));
    assert_eq!(h.current(0), Some(t.obj));
    assert_eq!((h.reply(0).badge, h.reply(0).data[0]), (1, 42));
    let info = tessera_abi::message::MessageInfo::unpack(h.reply(0).info).unwrap();
    assert_eq!((info.order, info.kind), (ORDER, InvocationKind::Post));
}

#[test]
fn a_low_priority_senders_post_waits_for_a_higher_process() {
    let (mut h, t, m) = scene(1);
    assert_eq!(h.current(0), Some(m.obj), "m runs first");
    assert_eq!(
        h.state(t),
        ProcessState::Available,
        "the POST is not delivered while m, above its sender, runs"
    );
    h.syscall(0, ret(0));
    assert_eq!(h.current(0), Some(t.obj), "then the POST ran and t took it");
    assert_eq!((h.reply(0).badge, h.reply(0).data[0]), (1, 42));
}

/// A POST made ready by another process's path (here t is resumed from a halt) runs from the
/// post run queue: before the lower-priority process current on the CPU goes on.
#[test]
fn a_ready_post_preempts_a_lower_process() {
    let (mut h, t, _) = scene(9);
    h.syscall(0, ret(0));
    assert_eq!(h.current(0), Some(t.obj));
    h.syscall(0, ret(0));
    let spinner = h.process(2);
    h.start(spinner);
    h.tick(0);
    assert_eq!(h.current(0), Some(spinner.obj));
    let sender = h.process(9);
    let ep = h.endpoint(t, 5);
    h.give(sender, EP, ep, Rights::ALL);
    h.obj(t, order::process::HALT, &[], &[]).unwrap();
    h.start(sender);
    h.tick(0);
    h.syscall(0, inv(InvocationKind::Post, EP, ORDER, &[43], &[], [0; 4]));
    h.syscall(0, ret(0));
    assert_eq!(h.current(0), Some(spinner.obj));
    assert_eq!(
        h.state(t),
        ProcessState::Halted,
        "the POST waits in t's queue"
    );
    h.obj(t, order::process::RESUME, &[], &[]).unwrap();
    assert_eq!(
        h.state(t),
        ProcessState::Available,
        "made ready, not delivered"
    );
    h.tick(0);
    assert_ne!(
        h.state(t),
        ProcessState::Available,
        "the POST ran at the CPU's next exit, before the spinner went on"
    );
}
