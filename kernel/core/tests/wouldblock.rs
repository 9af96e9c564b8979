//! Non-blocking invocations (seed 000, section 8): a CALL, SEND or POST with the NONBLOCKING
//! flag that would stall gets `WouldBlock`, changes nothing else, and registers a notification
//! request that is posted exactly once when the condition may have cleared; requests of a
//! halted or destroyed requester are dropped, and a destroyed object notifies its requesters.
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use common::{inv, H};
use tessera_abi::message::{Invocation, MessageInfo};
use tessera_abi::post::{NOTIFIED, NOTIFY_REQUESTS};
use tessera_abi::{order, CapType, Error, InvocationKind, ProcessInfo, ProcessState, Rights};
use tessera_core::{Cap, Exit};

/// The client's endpoint to the server.
const EP: u8 = 10;
/// A second server.
const EP2: u8 = 11;
const WORD: u64 = 0xabc;
const NOTIFY_BADGE: u64 = 77;

/// `i` with the NONBLOCKING flag.
fn nb(mut i: Invocation) -> Invocation {
    i.info |= MessageInfo::NONBLOCKING;
    i
}

fn wait() -> Invocation {
    inv(InvocationKind::Return, 0, 0, &[], &[], [0; 4])
}

fn call_server() -> Invocation {
    nb(inv(InvocationKind::Call, EP, 5, &[1], &[], [0; 4]))
}

/// A server, a client with an endpoint to it, and a listener the client's notifications go
/// to; the listener waits, the server is halted (so not available) and the client is current.
struct World {
    h: H,
    s: Cap,
    c: Cap,
    l: Cap,
}

fn world(posts: u32) -> World {
    let mut h = H::new(1, 8, 40, posts);
    let s = h.process(1);
    let c = h.client(1, s, EP, 1);
    let l = h.process(1);
    notify_to(&mut h, c, l);
    h.start(l);
    h.start(c);
    run(&mut h, l);
    h.syscall(0, wait());
    assert_eq!(h.current(0), Some(c.obj));
    World { h, s, c, l }
}

/// `c`'s notifications go to `l`, with [`WORD`].
fn notify_to(h: &mut H, c: Cap, l: Cap) {
    let to_l = h.endpoint(l, NOTIFY_BADGE);
    h.obj(c, order::process::SET_NOTIFY, &[WORD], &[to_l])
        .unwrap();
}

/// Runs timer ticks on CPU 0 until `p` is current there.
fn run(h: &mut H, p: Cap) {
    for _ in 0..64 {
        if h.current(0) == Some(p.obj) {
            return;
        }
        h.k.timer_tick(h.cpus[0].id);
        h.tick(0);
    }
    panic!("{p:?} never ran");
}

fn info(h: &mut H, p: Cap) -> ProcessInfo {
    ProcessInfo::unpack(h.obj(p, order::process::INFO, &[], &[]).unwrap().0).unwrap()
}

fn available(h: &mut H) -> u64 {
    let root = h.root;
    h.obj(root, order::bank::AVAILABLE, &[], &[]).unwrap().0[0]
}

/// The server starts and enters its open wait (it becomes available).
fn server_waits(w: &mut World) {
    w.h.start(w.s);
    run(&mut w.h, w.s);
    w.h.syscall(0, wait());
}

/// The listener runs with what it received: the number of NOTIFIED posts (0 or 1) it got.
fn notifications(w: &mut World) -> usize {
    if w.h.state(w.l) != ProcessState::Running {
        return 0;
    }
    run(&mut w.h, w.l);
    let r = w.h.reply(0);
    let i = MessageInfo::unpack(r.info).unwrap();
    assert_eq!(
        (i.kind, i.order, r.data[0], r.badge),
        (InvocationKind::Post, NOTIFIED, WORD, NOTIFY_BADGE)
    );
    w.h.syscall(0, wait());
    assert_ne!(
        w.h.state(w.l),
        ProcessState::Running,
        "a second notification"
    );
    1
}

#[test]
fn wouldblock_leaves_no_trace_and_notifies_once_when_the_server_waits() {
    let mut w = world(2);
    let before = (info(&mut w.h, w.s), available(&mut w.h));
    let mut registered = 0;
    for _ in 0..2 * NOTIFY_REQUESTS {
        let e = w.h.syscall(0, call_server());
        assert_eq!(
            e,
            Exit::User {
                process: w.c.obj,
                space: None
            },
            "the client goes on"
        );
        assert_eq!(
            w.h.error(0),
            Some(Error::WouldBlock),
            "one request per watched object"
        );
        registered += w.h.reply(0).data[0];
    }
    assert_eq!(registered, 1, "the first registers, the others find it");
    assert_eq!(
        (info(&mut w.h, w.s), available(&mut w.h)),
        before,
        "the server and bank are untouched"
    );
    let s = w.s;
    assert_eq!(w.h.state(s), ProcessState::Halted);
    // The client waits elsewhere; the server starts, runs and waits: one notification.
    w.h.syscall(0, wait());
    server_waits(&mut w);
    assert_eq!(notifications(&mut w), 1);
    // The server becoming available again notifies nobody: the request is gone.
    w.h.obj(s, order::process::HALT, &[], &[]).unwrap();
    w.h.obj(s, order::process::RESUME, &[], &[]).unwrap();
    assert_eq!(w.h.state(s), ProcessState::Available);
    assert_eq!(notifications(&mut w), 0);
    // The retry gets through.
    let c = w.c;
    w.h.obj(c, order::process::HALT, &[], &[]).unwrap();
    w.h.obj(c, order::process::SET_ENTRY, &[0, 0, 0], &[])
        .unwrap();
    w.h.start(c);
    run(&mut w.h, c);
    w.h.syscall(0, call_server());
    assert_eq!(
        w.h.state(c),
        ProcessState::Waiting,
        "delivered: the CALL waits for its reply"
    );
    assert_eq!(w.h.state(s), ProcessState::Running);
    w.h.check();
}

#[test]
fn a_send_to_a_queue_owned_by_another_wouldblock_and_the_request_stays_until_it_is_free() {
    let mut w = world(2);
    // A second client stalls (blocking) on the halted server.
    let d = w.h.client(1, w.s, EP, 2);
    w.h.start(d);
    run(&mut w.h, d);
    w.h.syscall(0, inv(InvocationKind::Send, EP, 1, &[], &[], [0; 4]));
    assert_eq!(w.h.state(d), ProcessState::Stalled);
    run(&mut w.h, w.c);
    w.h.syscall(0, nb(inv(InvocationKind::Send, EP, 1, &[], &[], [0; 4])));
    assert_eq!(w.h.error(0), Some(Error::WouldBlock));
    w.h.syscall(0, wait());
    // The server waits: the stalled sender is woken as owner, and the request fires as well
    // (the condition may have cleared; the retry may find the queue taken).
    server_waits(&mut w);
    assert_eq!(notifications(&mut w), 1);
    w.h.check();
}

#[test]
fn a_post_with_its_allotment_spent_wouldblock_and_is_notified_when_one_is_delivered() {
    let mut w = world(2);
    let post = |n: u64| inv(InvocationKind::Post, EP, 9, &[n], &[], [0; 4]);
    w.h.syscall(0, post(1));
    w.h.syscall(0, post(2));
    let before = available(&mut w.h);
    w.h.syscall(0, nb(post(3)));
    assert_eq!(w.h.error(0), Some(Error::WouldBlock));
    w.h.syscall(0, nb(post(3)));
    assert_eq!(w.h.error(0), Some(Error::WouldBlock));
    assert_eq!(available(&mut w.h), before);
    w.h.syscall(0, wait());
    assert_eq!(notifications(&mut w), 0);
    // The server waits and takes the first POST: an activity is free, one notification.
    server_waits(&mut w);
    assert_eq!(notifications(&mut w), 1);
    run(&mut w.h, w.s);
    assert_eq!(w.h.reply(0).data[0], 1, "the server got the first POST");
    w.h.syscall(0, wait());
    run(&mut w.h, w.s);
    assert_eq!(w.h.reply(0).data[0], 2);
    w.h.syscall(0, wait());
    assert_eq!(notifications(&mut w), 0, "once only");
    w.h.check();
}

#[test]
fn requests_of_a_halted_or_destroyed_requester_are_dropped() {
    for destroy in [false, true] {
        let mut w = world(2);
        w.h.syscall(0, call_server());
        assert_eq!(w.h.error(0), Some(Error::WouldBlock));
        let c = w.c;
        if destroy {
            let root = w.h.root;
            w.h.obj(root, order::bank::DESTROY, &[], &[c]).unwrap();
        } else {
            w.h.obj(c, order::process::HALT, &[], &[]).unwrap();
            w.h.obj(c, order::process::RESUME, &[], &[]).unwrap();
        }
        w.h.tick(0);
        server_waits(&mut w);
        assert_eq!(notifications(&mut w), 0, "destroyed: {destroy}");
        w.h.check();
    }
}

/// Halts and resumes the client and runs it again.
fn halt_and_resume_client(w: &mut World) {
    let c = w.c;
    w.h.obj(c, order::process::HALT, &[], &[]).unwrap();
    w.h.obj(c, order::process::RESUME, &[], &[]).unwrap();
    run(&mut w.h, c);
}

#[test]
fn a_requester_halted_and_resumed_that_tries_again_on_the_same_server_is_notified() {
    let mut w = world(2);
    w.h.syscall(0, call_server());
    assert_eq!(
        (w.h.error(0), w.h.reply(0).data[0]),
        (Some(Error::WouldBlock), 1)
    );
    halt_and_resume_client(&mut w);
    w.h.syscall(0, call_server());
    assert_eq!(
        (w.h.error(0), w.h.reply(0).data[0]),
        (Some(Error::WouldBlock), 1),
        "the request made before the halt is stale: this try's takes its place"
    );
    w.h.syscall(0, call_server());
    assert_eq!(w.h.reply(0).data[0], 0, "and is found by the next try");
    w.h.syscall(0, wait());
    server_waits(&mut w);
    assert_eq!(notifications(&mut w), 1);
    w.h.check();
}

#[test]
fn a_poster_halted_and_resumed_that_tries_again_is_notified() {
    let mut w = world(2);
    let post = |n: u64| inv(InvocationKind::Post, EP, 9, &[n], &[], [0; 4]);
    w.h.syscall(0, post(1));
    w.h.syscall(0, post(2));
    w.h.syscall(0, nb(post(3)));
    assert_eq!(
        (w.h.error(0), w.h.reply(0).data[0]),
        (Some(Error::WouldBlock), 1)
    );
    halt_and_resume_client(&mut w);
    w.h.syscall(0, nb(post(3)));
    assert_eq!(
        (w.h.error(0), w.h.reply(0).data[0]),
        (Some(Error::WouldBlock), 1),
        "the watch set before the halt is stale: this try's takes its place"
    );
    w.h.syscall(0, wait());
    server_waits(&mut w);
    assert_eq!(notifications(&mut w), 1);
    w.h.check();
}

#[test]
fn a_destroyed_server_notifies_its_requesters() {
    let mut w = world(2);
    w.h.syscall(0, call_server());
    w.h.syscall(0, wait());
    let (root, s) = (w.h.root, w.s);
    w.h.obj(root, order::bank::DESTROY, &[], &[s]).unwrap();
    assert_eq!(notifications(&mut w), 1);
    // The retry finds the endpoint dead.
    let c = w.c;
    w.h.obj(c, order::process::HALT, &[], &[]).unwrap();
    w.h.obj(c, order::process::SET_ENTRY, &[0, 0, 0], &[])
        .unwrap();
    w.h.start(c);
    run(&mut w.h, c);
    w.h.syscall(0, call_server());
    assert_eq!(w.h.error(0), Some(Error::NullCapability));
}

#[test]
fn requests_are_bounded_per_process_and_each_server_gets_its_own() {
    let mut w = world(2);
    let mut servers = vec![w.s];
    for _ in 1..=NOTIFY_REQUESTS {
        servers.push(w.h.process(1));
    }
    let c = w.c;
    for (i, s) in servers.iter().enumerate() {
        let ep = w.h.endpoint(*s, 1);
        w.h.give(c, EP2, ep, Rights::ALL);
        w.h.syscall(0, nb(inv(InvocationKind::Call, EP2, 5, &[], &[], [0; 4])));
        let expected = if i < NOTIFY_REQUESTS as usize {
            Error::WouldBlock
        } else {
            Error::OutOfQuota
        };
        assert_eq!(w.h.error(0), Some(expected), "server {i}");
    }
    assert_eq!(w.h.state(c), ProcessState::Running);
    w.h.check();
}

#[test]
fn without_a_notification_endpoint_wouldblock_registers_nothing() {
    let mut w = world(2);
    let c = w.c;
    w.h.obj(c, order::process::SET_NOTIFY, &[0], &[Cap::NULL])
        .unwrap();
    w.h.syscall(0, call_server());
    assert_eq!(w.h.error(0), Some(Error::WouldBlock));
    w.h.syscall(0, wait());
    server_waits(&mut w);
    assert_eq!(notifications(&mut w), 0);
    let page = w.h.create(CapType::Page);
    assert_eq!(
        w.h.obj(c, order::process::SET_NOTIFY, &[0], &[page]),
        Err(Error::WrongType)
    );
}

#[test]
fn a_nonblocking_call_to_a_waiting_server_is_an_ordinary_call() {
    let mut w = world(2);
    server_waits(&mut w);
    run(&mut w.h, w.c);
    w.h.syscall(0, call_server());
    assert_eq!(w.h.state(w.c), ProcessState::Waiting);
    run(&mut w.h, w.s);
    assert_eq!(w.h.reply(0).data[0], 1);
    assert_eq!(notifications(&mut w), 0);
}

#[test]
fn a_new_process_in_a_dead_requesters_slot_registers_its_own_request() {
    let mut w = world(2);
    w.h.syscall(0, call_server());
    assert_eq!(w.h.reply(0).data[0], 1);
    let (root, c) = (w.h.root, w.c);
    w.h.obj(root, order::bank::DESTROY, &[], &[c]).unwrap();
    let c2 = w.h.client(1, w.s, EP, 1);
    assert_eq!(c2.obj.index, c.obj.index, "the slot is reused");
    notify_to(&mut w.h, c2, w.l);
    w.h.start(c2);
    run(&mut w.h, c2);
    w.h.syscall(0, call_server());
    assert_eq!(
        (w.h.error(0), w.h.reply(0).data[0]),
        (Some(Error::WouldBlock), 1),
        "the dead one's request on the same server is not this one's"
    );
    w.h.syscall(0, wait());
    server_waits(&mut w);
    assert_eq!(
        notifications(&mut w),
        1,
        "the new one's, once; the dead one's dropped"
    );
    w.h.check();
}

#[test]
fn a_new_process_in_a_dead_posters_slot_gets_its_own_watch() {
    let mut w = world(2);
    let post = |n: u64| inv(InvocationKind::Post, EP, 9, &[n], &[], [0; 4]);
    w.h.syscall(0, post(1));
    w.h.syscall(0, post(2));
    w.h.syscall(0, nb(post(3)));
    assert_eq!(
        (w.h.error(0), w.h.reply(0).data[0]),
        (Some(Error::WouldBlock), 1)
    );
    let (root, c) = (w.h.root, w.c);
    w.h.obj(root, order::bank::DESTROY, &[], &[c]).unwrap();
    let c2 = w.h.client(1, w.s, EP, 1);
    assert_eq!(c2.obj.index, c.obj.index, "the slot is reused");
    notify_to(&mut w.h, c2, w.l);
    w.h.start(c2);
    run(&mut w.h, c2);
    // The dead one's POSTs still hold the slot's allotment.
    w.h.syscall(0, nb(post(4)));
    assert_eq!(
        (w.h.error(0), w.h.reply(0).data[0]),
        (Some(Error::WouldBlock), 1),
        "the dead one's watch is not this one's"
    );
    w.h.syscall(0, wait());
    server_waits(&mut w);
    assert_eq!(notifications(&mut w), 1);
    w.h.check();
}

#[test]
fn a_retry_whose_request_is_registered_takes_the_fast_path_to_the_same_refusal() {
    for fast in [true, false] {
        let mut w = world(2);
        w.h.k.set_fast_paths(fast);
        w.h.syscall(0, call_server());
        assert_eq!(w.h.reply(0).data[0], 1, "the first try registers");
        let (runs, calls) = (w.h.cpus[0].fast_runs(), info(&mut w.h, w.c).invocations);
        let e = w.h.syscall(0, call_server());
        assert_eq!(
            e,
            Exit::User {
                process: w.c.obj,
                space: None
            }
        );
        assert_eq!(
            (w.h.error(0), w.h.reply(0).data[0]),
            (Some(Error::WouldBlock), 0),
            "the retry registers nothing"
        );
        assert_eq!(info(&mut w.h, w.c).invocations, calls + 1);
        assert_eq!(
            w.h.cpus[0].fast_runs() - runs,
            u64::from(fast),
            "taken by the fast path when it is on"
        );
        w.h.check();
    }
}

#[test]
fn a_retry_whose_request_predates_a_halt_is_left_to_the_general_path() {
    let mut w = world(2);
    w.h.syscall(0, call_server());
    let c = w.c;
    w.h.obj(c, order::process::HALT, &[], &[]).unwrap();
    w.h.obj(c, order::process::RESUME, &[], &[]).unwrap();
    run(&mut w.h, c);
    let runs = w.h.cpus[0].fast_runs();
    w.h.syscall(0, call_server());
    assert_eq!(w.h.error(0), Some(Error::WouldBlock));
    assert_eq!(
        w.h.cpus[0].fast_runs(),
        runs,
        "a stale request is not the fast path's"
    );
    w.h.check();
}
