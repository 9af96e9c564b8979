//! The CALL/RETURN fast path (`invoke/fastpath.rs`) and the quiet exit from outside: where the
//! fast path's preconditions hold it must give the general path's outcome, and where one fails
//! (an equal-priority process is ready, the receiver lives on another CPU, the caller's own
//! queue has a waiter) the general path's scheduling decision must stand; a reschedule request
//! made by an order must not be skipped by the quiet exit.
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use common::{inv, H};
use tessera_abi::message::{Invocation, MessageInfo};
use tessera_abi::{order, InvocationKind, ProcessState, Rights};
use tessera_core::{Cap, Exit};

const EP: u8 = 10;
const RESUME: u8 = 3;
const WAIT: [u8; 4] = [30, 0, 0, RESUME];
const BADGE: u64 = 7;

fn ret(cap: u8, data: &[u64]) -> Invocation {
    inv(InvocationKind::Return, cap, 0, data, &[], WAIT)
}

fn call(data: &[u64]) -> Invocation {
    inv(InvocationKind::Call, EP, 42, data, &[], [0; 4])
}

/// On `cpus` CPUs: a server of priority `sp` and a client of priority `cp` holding an endpoint
/// to it, plus `others` processes of priority `cp`, all started in that order.
fn world(cpus: usize, sp: u64, cp: u64, others: usize) -> (H, Cap, Cap, Vec<Cap>) {
    let mut h = H::new(cpus, 16, 100, 2);
    let s = h.process(sp);
    let c = h.client(cp, s, EP, BADGE);
    let xs: Vec<Cap> = (0..others).map(|_| h.process(cp)).collect();
    h.start(s);
    h.start(c);
    for x in &xs {
        h.start(*x);
    }
    (h, s, c, xs)
}

#[test]
fn a_round_trip_delivers_badge_data_resume_and_reply_and_switches_at_once() {
    let (mut h, s, c, _) = world(1, 1, 1, 0);
    h.tick(0);
    assert_eq!(h.current(0), Some(s.obj));
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(c.obj));
    let exit = h.syscall(0, call(&[5, 6]));
    assert_eq!(
        exit,
        Exit::User {
            process: s.obj,
            space: None
        }
    );
    let r = h.reply(0);
    let info = MessageInfo::unpack(r.info).unwrap();
    assert_eq!(
        (r.badge, info.order, info.kind, info.resume),
        (BADGE, 42, InvocationKind::Call, true)
    );
    assert_eq!(r.data, [5, 6, 0, 0], "words beyond the count are zero");
    assert_eq!(h.state(c), ProcessState::Waiting);
    let exit = h.syscall(0, ret(RESUME, &[9]));
    assert_eq!(
        exit,
        Exit::User {
            process: c.obj,
            space: None
        }
    );
    assert_eq!((h.error(0), h.reply(0).data), (None, [9, 0, 0, 0]));
    assert_eq!(h.state(s), ProcessState::Available);
    h.syscall(0, call(&[1]));
    assert_eq!(
        h.current(0),
        Some(s.obj),
        "the resume capability of the last call is spent"
    );
    h.syscall(0, ret(RESUME, &[2]));
    assert_eq!(h.reply(0).data[0], 2);
}

#[test]
fn an_equal_priority_process_ready_here_runs_before_the_called_server() {
    let (mut h, s, c, xs) = world(1, 1, 1, 1);
    h.tick(0);
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(c.obj));
    h.syscall(0, call(&[3]));
    assert_eq!(
        h.current(0),
        Some(xs[0].obj),
        "the server joins its level behind the ready one"
    );
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(s.obj));
    assert_eq!(h.reply(0).data[0], 3);
}

#[test]
fn a_higher_priority_server_runs_before_ready_processes_of_the_callers_level() {
    let (mut h, s, c, xs) = world(1, 5, 1, 1);
    h.tick(0);
    assert_eq!(h.current(0), Some(s.obj));
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(c.obj));
    h.syscall(0, call(&[4]));
    assert_eq!(h.current(0), Some(s.obj));
    assert_eq!(
        h.state(xs[0]),
        ProcessState::Running,
        "still ready, not current"
    );
    h.syscall(0, ret(RESUME, &[8]));
    assert_eq!(
        h.current(0),
        Some(xs[0].obj),
        "the caller rejoins its level behind the ready one"
    );
    assert_eq!(h.state(c), ProcessState::Running);
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(c.obj));
    assert_eq!(h.reply(0).data[0], 8);
}

#[test]
fn a_server_homed_on_another_cpu_is_queued_there_and_stolen_by_the_idle_caller_cpu() {
    let (mut h, s, c, _) = world(2, 1, 1, 0);
    h.tick(0);
    h.tick(1);
    let (here, there) = if h.current(0) == Some(c.obj) {
        (0, 1)
    } else {
        (1, 0)
    };
    assert_eq!(h.current(there), Some(s.obj));
    h.syscall(there, ret(0, &[]));
    assert_eq!(h.current(there), None);
    h.k.platform.ipis.lock().unwrap().clear();
    h.syscall(here, call(&[6]));
    assert_eq!(
        h.k.platform.ipis.lock().unwrap().len(),
        1,
        "the general path woke the server's home CPU"
    );
    assert_eq!(h.current(here), Some(s.obj), "then this idle CPU stole it");
    assert_eq!(h.reply(here).data[0], 6);
}

#[test]
fn a_return_with_a_sender_waiting_hands_the_queue_on_first() {
    let (mut h, s, c, xs) = world(1, 1, 1, 1);
    let ep = h.endpoint(s, BADGE + 1);
    h.give(xs[0], EP, ep, Rights::ALL);
    h.tick(0);
    h.syscall(0, ret(0, &[]));
    h.syscall(0, call(&[1]));
    assert_eq!(h.current(0), Some(xs[0].obj));
    h.syscall(0, call(&[2]));
    assert_eq!(
        h.state(xs[0]),
        ProcessState::Stalled,
        "the server is busy with the first call"
    );
    assert_eq!(h.current(0), Some(s.obj));
    assert_eq!(h.reply(0).data[0], 1);
    h.syscall(0, ret(RESUME, &[10]));
    assert_eq!(h.state(c), ProcessState::Running);
    assert_ne!(
        h.state(xs[0]),
        ProcessState::Stalled,
        "the waiting sender was woken as owner"
    );
}

#[test]
fn an_order_that_asks_for_a_reschedule_is_not_skipped_by_the_quiet_exit() {
    let mut h = H::new(1, 16, 100, 2);
    let c = h.process(5);
    let x = h.process(3);
    h.give(c, 11, c, Rights::ALL);
    h.start(c);
    h.start(x);
    h.tick(0);
    assert_eq!(h.current(0), Some(c.obj));
    h.syscall(0, common::call(11, order::GET_TYPE, &[], &[], 0));
    assert_eq!(
        h.current(0),
        Some(c.obj),
        "nothing to do at exit: the caller goes on"
    );
    h.syscall(
        0,
        common::call(11, order::process::SET_PRIORITY, &[1], &[], 0),
    );
    assert_eq!(
        h.current(0),
        Some(x.obj),
        "the lowered caller yields to the ready process"
    );
}

#[test]
fn a_post_to_a_waiting_higher_priority_server_runs_it_at_once_and_requeues_the_sender_first() {
    let (mut h, s, c, xs) = world(1, 5, 1, 1);
    h.tick(0);
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(c.obj));
    let exit = h.syscall(0, inv(InvocationKind::Post, EP, 9, &[77], &[], [0; 4]));
    assert_eq!(
        exit,
        Exit::User {
            process: s.obj,
            space: None
        }
    );
    let r = h.reply(0);
    let info = MessageInfo::unpack(r.info).unwrap();
    assert_eq!(
        (r.badge, info.kind, info.order, info.resume, r.data[0]),
        (BADGE, InvocationKind::Post, 9, false, 77)
    );
    assert_eq!(
        h.state(c),
        ProcessState::Running,
        "the sender is ready, not waiting"
    );
    h.syscall(0, ret(0, &[]));
    assert_eq!(
        h.current(0),
        Some(c.obj),
        "the preempted sender runs before the other ready one"
    );
    assert_eq!(
        (h.error(0), h.reply(0).data),
        (None, [0; 4]),
        "the POST's own reply"
    );
    assert_eq!(h.state(xs[0]), ProcessState::Running);
}

#[test]
fn a_send_to_a_waiting_server_of_the_same_priority_queues_it_and_the_sender_goes_on() {
    let (mut h, s, c, _) = world(1, 1, 1, 0);
    h.tick(0);
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(c.obj));
    h.syscall(0, inv(InvocationKind::Send, EP, 4, &[5, 6], &[], [0; 4]));
    assert_eq!(h.current(0), Some(c.obj), "no preemption between equals");
    assert_eq!(
        h.state(s),
        ProcessState::Running,
        "the server is ready with the message"
    );
}

/// POSTs words 1 and 2 (the sender's whole allotment) to a halted, so busy, server, resumes
/// it into its open wait and returns the words it receives, in order, and how many of the
/// POSTs a fast path ran.
fn posts_to_a_busy_server(fast: bool) -> (Vec<u64>, u64) {
    let (mut h, s, c, _) = world(1, 1, 1, 0);
    h.k.set_fast_paths(fast);
    h.tick(0);
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(c.obj));
    h.obj(s, order::process::HALT, &[], &[]).unwrap();
    let runs = h.cpus[0].fast_runs();
    for w in 1..=2 {
        let exit = h.syscall(0, inv(InvocationKind::Post, EP, 9, &[w], &[], [0; 4]));
        assert_eq!(
            exit,
            Exit::User {
                process: c.obj,
                space: None
            },
            "the sender goes on"
        );
        assert_eq!((h.error(0), h.reply(0).data), (None, [0; 4]));
    }
    let fast_runs = h.cpus[0].fast_runs() - runs;
    h.obj(s, order::process::RESUME, &[], &[]).unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        h.syscall(0, ret(0, &[]));
        assert_eq!(h.current(0), Some(s.obj), "the server takes the next POST");
        let r = h.reply(0);
        let info = MessageInfo::unpack(r.info).unwrap();
        assert_eq!(
            (r.badge, info.kind, info.order),
            (BADGE, InvocationKind::Post, 9)
        );
        got.push(r.data[0]);
    }
    h.check();
    (got, fast_runs)
}

#[test]
fn a_post_to_a_busy_server_is_queued_by_the_fast_path_as_by_the_general_one() {
    assert_eq!(posts_to_a_busy_server(false), (vec![1, 2], 0));
    assert_eq!(posts_to_a_busy_server(true), (vec![1, 2], 2));
}

/// The client YIELDs through its own process capability (write rights, or read only) with an
/// equal-priority process ready: who runs next, the client's reply, and how many YIELDs a fast
/// path ran.
fn yields(
    fast: bool,
    rights: Rights,
) -> (Option<tessera_core::ObjId>, Option<tessera_abi::Error>, u64) {
    const ME: u8 = 11;
    let (mut h, _, c, xs) = world(1, 0, 1, 1);
    h.k.set_fast_paths(fast);
    h.give(c, ME, c, rights);
    h.tick(0);
    assert_eq!(h.current(0), Some(c.obj));
    let runs = h.cpus[0].fast_runs();
    h.syscall(
        0,
        inv(
            InvocationKind::Call,
            ME,
            order::process::YIELD,
            &[],
            &[],
            [0; 4],
        ),
    );
    let next = h.current(0);
    let runs = h.cpus[0].fast_runs() - runs;
    assert_ne!(next, None);
    if next == Some(xs[0].obj) {
        h.syscall(0, ret(0, &[]));
    }
    assert_eq!(h.current(0), Some(c.obj));
    let error = h.error(0);
    h.check();
    (next, error, runs)
}

#[test]
fn a_yield_takes_the_fast_path_to_the_general_paths_switch() {
    let (_, _, c, xs) = world(1, 0, 1, 1);
    let other = Some(xs[0].obj);
    assert_eq!(yields(false, Rights::ALL), (other, None, 0));
    assert_eq!(yields(true, Rights::ALL), (other, None, 1));
    let refused = Some(tessera_abi::Error::MissingRights);
    assert_eq!(yields(false, Rights::READ), (Some(c.obj), refused, 0));
    assert_eq!(yields(true, Rights::READ), (Some(c.obj), refused, 0));
}

/// The client answers itself INFO and reads and writes a page word, through capabilities with
/// and without the rights, with words in and out of range and with fewer data words than the
/// order reads: every reply (registers and error) in order, and how many a fast path ran.
fn answered_orders(fast: bool) -> (Vec<tessera_abi::message::Reply>, u64) {
    const ME: u8 = 11;
    const ME_NO_RIGHTS: u8 = 12;
    const PAGE: u8 = 13;
    const PAGE_READ_ONLY: u8 = 14;
    let (mut h, _, c, _) = world(1, 0, 1, 0);
    h.k.set_fast_paths(fast);
    h.give(c, ME, c, Rights::READ);
    h.give(c, ME_NO_RIGHTS, c, Rights::NONE);
    let page = h.create(tessera_abi::CapType::Page);
    h.give(c, PAGE, page, Rights::ALL);
    h.give(c, PAGE_READ_ONLY, page, Rights::READ);
    h.tick(0);
    assert_eq!(h.current(0), Some(c.obj));
    let runs = h.cpus[0].fast_runs();
    let orders: [(u8, u32, &[u64]); 9] = [
        (ME, order::process::INFO, &[]),
        (ME_NO_RIGHTS, order::process::INFO, &[]),
        (PAGE, order::page::WRITE_WORD, &[5, 77]),
        (PAGE, order::page::READ_WORD, &[5]),
        (PAGE_READ_ONLY, order::page::READ_WORD, &[5]),
        (PAGE_READ_ONLY, order::page::WRITE_WORD, &[5, 1]),
        (PAGE, order::page::READ_WORD, &[512]),
        (PAGE, order::page::WRITE_WORD, &[6]),
        (PAGE, order::page::READ_WORD, &[]),
    ];
    let mut replies = Vec::new();
    for (cap, o, data) in orders {
        h.syscall(0, inv(InvocationKind::Call, cap, o, data, &[], [0; 4]));
        assert_eq!(h.current(0), Some(c.obj));
        replies.push(h.reply(0));
    }
    h.syscall(
        0,
        inv(
            InvocationKind::Call,
            ME,
            order::process::INFO,
            &[],
            &[],
            [0; 4],
        ),
    );
    replies.push(h.reply(0));
    let runs = h.cpus[0].fast_runs() - runs;
    h.check();
    (replies, runs)
}

#[test]
fn info_and_page_words_are_answered_by_the_fast_path_as_by_the_general_one() {
    let (general, none) = answered_orders(false);
    let (fast, runs) = answered_orders(true);
    assert_eq!(none, 0);
    assert_eq!(fast, general);
    let error = |r: &tessera_abi::message::Reply| tessera_abi::Error::from_raw(r.error);
    assert_eq!(error(&general[0]), None);
    assert_eq!(error(&general[1]), Some(tessera_abi::Error::MissingRights));
    assert_eq!((error(&general[3]), general[3].data[0]), (None, 77));
    assert_eq!((error(&general[4]), general[4].data[0]), (None, 77));
    assert_eq!(error(&general[5]), Some(tessera_abi::Error::MissingRights));
    assert_eq!(
        error(&general[6]),
        Some(tessera_abi::Error::InvalidArgument)
    );
    assert_eq!((error(&general[8]), general[8].data[0]), (None, 0));
    // INFO twice, WRITE_WORD twice (one with the value left out: 0 written), READ_WORD three
    // times; the refusals are the general path's.
    assert_eq!(runs, 7);
}

/// On two CPUs: `s` and `z` (priority 1) pinned to CPU 0, `s` running there; `y` (priority
/// 6) pinned to and running on CPU 1, and `x` (priority 5, not pinned) queued behind it there.
/// `s` waits in the open: who runs next on CPU 0.
fn open_wait_with_more_urgent_work_elsewhere(fast: bool) -> (tessera_core::ObjId, Cap) {
    let mut h = H::new(2, 16, 100, 2);
    h.k.set_fast_paths(fast);
    let pin = |h: &mut H, p: Cap, cpu: u64| {
        h.obj(p, order::process::SET_AFFINITY, &[cpu], &[]).unwrap();
    };
    let s = h.process(1);
    let z = h.process(1);
    let y = h.process(6);
    let x = h.process(5);
    pin(&mut h, s, 0);
    pin(&mut h, z, 0);
    pin(&mut h, y, 1);
    pin(&mut h, x, 1);
    pin(&mut h, x, order::process::ANY_CPU);
    h.start(s);
    h.start(z);
    h.tick(0);
    assert_eq!(h.current(0), Some(s.obj));
    h.start(y);
    h.tick(1);
    assert_eq!(h.current(1), Some(y.obj));
    h.start(x);
    assert_eq!(h.current(1), Some(y.obj));
    h.syscall(0, ret(0, &[]));
    let next = h.current(0).unwrap();
    h.check();
    (next, x)
}

#[test]
fn an_open_wait_leaves_a_more_urgent_process_on_another_cpu_to_be_stolen() {
    let (general, x) = open_wait_with_more_urgent_work_elsewhere(false);
    assert_eq!(
        general, x.obj,
        "the general path steals the more urgent process"
    );
    let (fast, _) = open_wait_with_more_urgent_work_elsewhere(true);
    assert_eq!(fast, general);
}
