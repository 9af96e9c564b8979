//! The invocation paths end to end, by hand: CALL and RETURN with badges, capabilities and
//! one-shot resume capabilities; SEND stalling until taken; POST queued in order, the bounded
//! pool, KernStall restarts; halting and destroying queued processes; IRQs as POSTs; priority
//! preemption at exit.
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use common::{call, inv, H};
use tessera_abi::message::MessageInfo;
use tessera_abi::post::IRQ_FIRED;
use tessera_abi::{order, CapType, Error, InvocationKind, ProcessState, Rights};
use tessera_core::Exit;

const EP: u8 = 10;
const RESUME: u8 = 3;
const WAIT: [u8; 4] = [30, 0, 0, RESUME];

fn ret(cap: u8, data: &[u64]) -> tessera_abi::message::Invocation {
    inv(InvocationKind::Return, cap, 0, data, &[], WAIT)
}

/// A server `s` and `clients` clients with endpoints to it (badge = client number + 1), on
/// one CPU; the server is current and has entered its open wait.
fn setup(
    clients: usize,
    posts: u32,
) -> (
    H,
    tessera_abi::message::Invocation,
    Vec<tessera_core::Cap>,
    tessera_core::Cap,
) {
    let mut h = H::new(1, 16, 100, posts);
    let s = h.process(1);
    let mut cs = Vec::new();
    for i in 0..clients {
        let c = h.process(1);
        let ep = h.endpoint(s, i as u64 + 1);
        h.give(c, EP, ep, Rights::ALL);
        cs.push(c);
    }
    h.start(s);
    for c in &cs {
        h.start(*c);
    }
    assert_eq!(
        h.tick(0),
        Exit::User {
            process: s.obj,
            space: None
        }
    );
    h.syscall(0, ret(0, &[]));
    (h, ret(0, &[]), cs, s)
}

#[test]
fn call_and_return_carry_badge_data_capabilities_and_the_reply() {
    let (mut h, _, cs, s) = setup(1, 2);
    let page = h.create(CapType::Page);
    h.give(cs[0], 6, page, Rights::READ);
    assert_eq!(h.current(0), Some(cs[0].obj));
    h.syscall(
        0,
        inv(InvocationKind::Call, EP, 77, &[5, 6], &[6], [31, 0, 0, 0]),
    );
    assert_eq!(
        h.current(0),
        Some(s.obj),
        "the caller waits; the server runs"
    );
    let r = h.reply(0);
    let info = MessageInfo::unpack(r.info).unwrap();
    assert_eq!(
        (
            r.badge,
            info.order,
            info.kind,
            info.resume,
            r.data[0],
            r.data[1]
        ),
        (1, 77, InvocationKind::Call, true, 5, 6)
    );
    let (got, _) = h.obj(s, order::process::GET_CAP, &[30], &[]).unwrap();
    assert_eq!(got, [0; 4]);
    assert_eq!(h.state(cs[0]), ProcessState::Waiting);
    h.syscall(0, ret(RESUME, &[42]));
    assert_eq!(h.current(0), Some(cs[0].obj));
    let r = h.reply(0);
    assert_eq!((r.error, r.data[0]), (0, 42));
    assert_eq!(h.state(s), ProcessState::Available);
}

#[test]
fn a_resume_capability_works_once() {
    let (mut h, _, cs, s) = setup(1, 2);
    h.syscall(0, inv(InvocationKind::Call, EP, 1, &[9], &[], [0; 4]));
    let resume = h
        .obj(s, order::process::GET_CAP, &[u64::from(RESUME)], &[])
        .unwrap()
        .1
        .unwrap();
    h.give(s, 40, resume, Rights::ALL);
    h.syscall(0, inv(InvocationKind::Send, RESUME, 0, &[1], &[], [0; 4]));
    assert_eq!(h.error(0), None, "the first reply is delivered");
    h.syscall(0, inv(InvocationKind::Send, 40, 0, &[2], &[], [0; 4]));
    assert_eq!(
        h.error(0),
        Some(Error::NullCapability),
        "a copy dies with the reply"
    );
    h.syscall(0, ret(RESUME, &[3]));
    assert_eq!(h.current(0), Some(cs[0].obj));
    assert_eq!(h.reply(0).data[0], 1, "the client saw only the first reply");
}

#[test]
fn a_send_to_a_busy_server_stalls_and_restarts_without_a_user_step() {
    let (mut h, _, cs, s) = setup(1, 2);
    h.obj(s, order::process::HALT, &[], &[]).unwrap();
    assert_eq!(h.current(0), Some(cs[0].obj));
    h.syscall(0, inv(InvocationKind::Send, EP, 5, &[8], &[], [0; 4]));
    assert_eq!(
        h.current(0),
        None,
        "the server is not available: the sender stalls"
    );
    assert_eq!(h.state(cs[0]), ProcessState::Stalled);
    h.obj(s, order::process::RESUME, &[], &[]).unwrap();
    h.tick(0);
    // Woken as owner of the server's queue, the SEND re-ran from the save area and was taken.
    assert_eq!(h.current(0), Some(cs[0].obj));
    assert_eq!(h.error(0), None);
    assert_eq!(h.state(s), ProcessState::Running);
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(s.obj));
    let r = h.reply(0);
    assert_eq!(
        (
            MessageInfo::unpack(r.info).unwrap().order,
            r.data[0],
            r.badge
        ),
        (5, 8, 1)
    );
}

/// Seed 003's pool must not be a shared resource one program can drain: a sender that posts to
/// a recipient that never listens exhausts its own allotment only, and stalls; every other
/// sender's POSTs are still queued at once. On a single shared pool the second sender stalled.
#[test]
fn a_sender_that_floods_a_deaf_recipient_drains_only_its_own_activities() {
    const ALLOTMENT: u32 = 2;
    let (mut h, _, cs, s) = setup(2, ALLOTMENT);
    h.obj(s, order::process::HALT, &[], &[]).unwrap();
    let (flooder, other) = (cs[0], cs[1]);
    h.tick(0);
    assert_eq!(h.current(0), Some(flooder.obj));
    for i in 0..ALLOTMENT {
        h.syscall(
            0,
            inv(InvocationKind::Post, EP, 1, &[u64::from(i)], &[], [0; 4]),
        );
        assert_eq!(h.current(0), Some(flooder.obj), "post {i} is queued");
    }
    h.syscall(0, inv(InvocationKind::Post, EP, 1, &[99], &[], [0; 4]));
    assert_eq!(
        h.state(flooder),
        ProcessState::Stalled,
        "its own allotment is spent"
    );
    assert_eq!(h.current(0), Some(other.obj));
    for i in 0..ALLOTMENT {
        h.syscall(
            0,
            inv(InvocationKind::Post, EP, 2, &[u64::from(i)], &[], [0; 4]),
        );
        assert_eq!(
            (h.current(0), h.error(0)),
            (Some(other.obj), None),
            "another sender's post {i} is still queued at once"
        );
    }
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), None, "both senders are off the CPU");
    h.obj(s, order::process::RESUME, &[], &[]).unwrap();
    let mut got = Vec::new();
    for _ in 0..8 {
        h.tick(0);
        match h.current(0) {
            Some(p) if p == s.obj => {
                let r = h.reply(0);
                got.push((r.badge, r.data[0]));
            }
            Some(p) => assert_eq!(p, flooder.obj, "only the re-run sender runs again"),
            None => break,
        }
        h.syscall(0, ret(0, &[]));
    }
    assert_eq!(
        got,
        [(1, 0), (1, 1), (2, 0), (2, 1), (1, 99)],
        "every post delivered once, in arrival order, the stalled one after it re-ran"
    );
}

#[test]
fn posts_queue_in_order_and_a_full_pool_stalls_the_sender_until_one_is_freed() {
    let (mut h, _, cs, s) = setup(1, 1);
    // The server takes a call and keeps the client's first message unanswered: busy.
    h.syscall(0, inv(InvocationKind::Call, EP, 1, &[100], &[], [0; 4]));
    assert_eq!(h.current(0), Some(s.obj));
    h.obj(s, order::process::HALT, &[], &[]).unwrap();
    h.tick(0);
    assert_eq!(
        h.current(0),
        None,
        "only the halted server and the waiting client exist"
    );
    let c2 = h.process(1);
    let ep = h.endpoint(s, 9);
    h.give(c2, EP, ep, Rights::ALL);
    h.start(c2);
    h.tick(0);
    assert_eq!(h.current(0), Some(c2.obj));
    h.syscall(0, inv(InvocationKind::Post, EP, 11, &[1], &[], [0; 4]));
    assert_eq!(
        h.error(0),
        None,
        "queued on the pool's one activity; the sender goes on"
    );
    assert_eq!(h.current(0), Some(c2.obj));
    h.syscall(0, inv(InvocationKind::Post, EP, 12, &[2], &[], [0; 4]));
    assert_eq!(h.current(0), None, "the pool is empty: the sender stalls");
    assert_eq!(h.state(c2), ProcessState::Stalled);
    h.obj(s, order::process::RESUME, &[], &[]).unwrap();
    h.tick(0);
    assert_eq!(h.current(0), Some(s.obj));
    h.syscall(0, ret(RESUME, &[100]));
    let r = h.reply(0);
    let info = MessageInfo::unpack(r.info).unwrap();
    assert_eq!(
        h.current(0),
        Some(s.obj),
        "a queued post is delivered at once"
    );
    assert_eq!(
        (info.kind, info.order, r.data[0], r.badge),
        (InvocationKind::Post, 11, 1, 9)
    );
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(cs[0].obj));
    assert_eq!(h.reply(0).data[0], 100, "the client got its reply");
    h.syscall(0, ret(0, &[]));
    // The stalled POST restarted (KernStall) and was delivered before the sender ran again.
    assert_eq!(h.current(0), Some(c2.obj));
    assert_eq!(h.error(0), None);
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(s.obj));
    let r = h.reply(0);
    assert_eq!(
        (MessageInfo::unpack(r.info).unwrap().order, r.data[0]),
        (12, 2)
    );
}

#[test]
fn destroying_a_server_wakes_its_queue_with_null() {
    let (mut h, _, cs, s) = setup(2, 2);
    h.syscall(0, inv(InvocationKind::Call, EP, 1, &[1], &[], [0; 4]));
    h.obj(s, order::process::HALT, &[], &[]).unwrap();
    h.tick(0);
    assert_eq!(h.current(0), Some(cs[1].obj));
    h.syscall(0, inv(InvocationKind::Send, EP, 2, &[2], &[], [0; 4]));
    assert_eq!(h.state(cs[1]), ProcessState::Stalled);
    let root = h.root;
    h.obj(root, order::bank::DESTROY, &[], &[s]).unwrap();
    h.tick(0);
    assert_eq!(h.current(0), Some(cs[1].obj));
    assert_eq!(
        h.error(0),
        Some(Error::NullCapability),
        "the restarted SEND finds the endpoint dead"
    );
    assert_eq!(
        h.state(cs[0]),
        ProcessState::Waiting,
        "a caller already delivered keeps waiting"
    );
    h.k.check_invariants(&h.cpus).unwrap();
}

#[test]
fn a_caller_halted_in_its_wait_ends_its_call_with_halted() {
    let (mut h, _, cs, _s) = setup(1, 2);
    h.syscall(0, inv(InvocationKind::Call, EP, 1, &[1], &[], [0; 4]));
    h.obj(cs[0], order::process::HALT, &[], &[]).unwrap();
    h.syscall(0, ret(RESUME, &[5]));
    h.obj(cs[0], order::process::RESUME, &[], &[]).unwrap();
    h.tick(0);
    assert_eq!(h.current(0), Some(cs[0].obj));
    assert_eq!(
        h.error(0),
        Some(Error::Halted),
        "the reply to a revoked resume capability is dropped"
    );
}

#[test]
fn an_irq_reaches_the_bound_driver_as_a_post() {
    let (mut h, _, _, s) = setup(0, 2);
    let ep = h.endpoint(s, 0xd);
    let irq = h.k.irq_cap(2).unwrap();
    h.obj(irq, order::irq::BIND, &[], &[ep]).unwrap();
    h.k.note_irq(h.cpus[0].id, 2);
    h.tick(0);
    assert_eq!(h.current(0), Some(s.obj));
    let r = h.reply(0);
    let info = MessageInfo::unpack(r.info).unwrap();
    assert_eq!(
        (info.kind, info.order, r.data[0], r.badge),
        (InvocationKind::Post, IRQ_FIRED, 2, 0xd)
    );
}

#[test]
fn a_woken_process_of_higher_priority_preempts_at_exit() {
    let mut h = H::new(1, 8, 100, 2);
    let low = h.process(1);
    let high = h.process(5);
    let ep = h.endpoint(high, 1);
    h.give(low, EP, ep, Rights::ALL);
    h.start(high);
    h.start(low);
    h.tick(0);
    assert_eq!(h.current(0), Some(high.obj));
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(low.obj));
    h.syscall(0, inv(InvocationKind::Post, EP, 1, &[1], &[], [0; 4]));
    assert_eq!(
        h.current(0),
        Some(high.obj),
        "the POST woke a higher priority: preempted at exit"
    );
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(low.obj));
    assert_eq!(h.error(0), None);
}

#[test]
fn kernel_objects_answer_orders() {
    let mut h = H::new(1, 8, 100, 2);
    let p = h.process(0);
    let page = h.create(CapType::Page);
    let space = h.create(CapType::AddressSpace);
    h.give(p, 4, page, Rights::ALL);
    h.give(p, 5, space, Rights::ALL);
    h.obj(p, order::process::SET_SPACE, &[], &[space]).unwrap();
    h.start(p);
    h.tick(0);
    h.syscall(0, call(4, order::page::WRITE_WORD, &[3, 99], &[], 0));
    h.syscall(0, call(4, order::page::READ_WORD, &[3], &[], 0));
    assert_eq!(h.reply(0).data[0], 99);
    h.syscall(
        0,
        call(5, order::space::MAP, &[7, Rights::READ.raw()], &[4], 0),
    );
    assert_eq!(h.error(0), None);
    h.syscall(0, call(5, order::space::LOOKUP, &[7], &[], 0));
    assert_eq!(h.reply(0).data[0], Rights::READ.raw());
    let t = h.k.resolve_fault(&mut h.cpus[0], 7).unwrap();
    assert_eq!(t.rights, Rights::READ);
    assert_eq!(h.k.resolve_fault(&mut h.cpus[0], 8), Err(Error::BadAddress));
    h.syscall(0, call(4, order::GET_TYPE, &[], &[], 0));
    assert_eq!(h.reply(0).data[0], CapType::Page as u64);
    let root = h.root;
    h.obj(root, order::bank::DESTROY, &[], &[page]).unwrap();
    h.syscall(0, call(5, order::space::LOOKUP, &[7], &[], 0));
    assert_eq!(
        h.reply(0).data[0],
        0,
        "a destroyed page's mapping counts as absent"
    );
    assert_eq!(h.k.resolve_fault(&mut h.cpus[0], 7), Err(Error::BadAddress));
}

#[test]
fn the_cleaner_evicts_derived_tables_when_frames_run_out() {
    let mut h = H::new(1, 3, 100, 2);
    let p = h.process(0);
    let page = h.create(CapType::Page);
    let space = h.create(CapType::AddressSpace);
    h.obj(space, order::space::MAP, &[0, Rights::READ.raw()], &[page])
        .unwrap();
    h.obj(
        space,
        order::space::MAP,
        &[600, Rights::READ.raw()],
        &[page],
    )
    .unwrap();
    h.obj(p, order::process::SET_SPACE, &[], &[space]).unwrap();
    h.start(p);
    h.tick(0);
    h.k.resolve_fault(&mut h.cpus[0], 0).unwrap();
    h.k.resolve_fault(&mut h.cpus[0], 600).unwrap();
    assert_eq!(
        h.k.derived_tables(),
        2,
        "two tables, all three frames in use"
    );
    let root = h.root;
    let made = h.obj(root, order::bank::CREATE, &[CapType::Page as u64], &[]);
    assert!(
        made.is_ok(),
        "the cleaner freed a derived table's frame: {made:?}"
    );
    assert_eq!(h.k.derived_tables(), 1);
}

#[test]
fn equal_priorities_take_turns_at_the_end_of_a_quantum() {
    let mut h = H::new(1, 8, 100, 2);
    let a = h.process(3);
    let b = h.process(3);
    h.start(a);
    h.start(b);
    h.tick(0);
    assert_eq!(h.current(0), Some(a.obj));
    for _ in 0..tessera_core::run_queue::DEFAULT_QUANTUM_TICKS - 1 {
        h.k.timer_tick(h.cpus[0].id);
        h.tick(0);
        assert_eq!(h.current(0), Some(a.obj), "the quantum is not used up yet");
    }
    h.k.timer_tick(h.cpus[0].id);
    h.tick(0);
    assert_eq!(h.current(0), Some(b.obj), "round robin inside the level");
    for _ in 0..tessera_core::run_queue::DEFAULT_QUANTUM_TICKS {
        h.k.timer_tick(h.cpus[0].id);
    }
    h.tick(0);
    assert_eq!(h.current(0), Some(a.obj));
}

#[test]
fn yield_passes_the_cpu_to_the_next_of_the_same_priority_and_only_the_caller_may_yield() {
    const SELF: u8 = 11;
    let mut h = H::new(1, 8, 100, 2);
    let a = h.process(3);
    let b = h.process(3);
    h.give(a, SELF, a, Rights::ALL);
    h.give(a, SELF + 1, b, Rights::ALL);
    h.give(b, SELF, b, Rights::ALL);
    h.start(a);
    h.start(b);
    h.tick(0);
    assert_eq!(h.current(0), Some(a.obj));
    h.syscall(0, call(SELF + 1, order::process::YIELD, &[], &[], 0));
    assert_eq!(
        h.current(0),
        Some(a.obj),
        "yielding on another process's behalf is refused"
    );
    assert_eq!(h.error(0), Some(Error::BadState));
    h.syscall(0, call(SELF, order::process::YIELD, &[], &[], 0));
    assert_eq!(
        h.current(0),
        Some(b.obj),
        "the yielder goes behind the other process of its level"
    );
    assert_eq!(
        h.error(0),
        None,
        "b resumes where it was: no error is shown"
    );
    h.syscall(0, call(SELF, order::process::YIELD, &[], &[], 0));
    assert_eq!(h.current(0), Some(a.obj), "and back");
    assert_eq!(h.error(0), None, "a's YIELD succeeded");
}

#[test]
fn io_ports_are_granted_and_revoked_through_the_platform_after_the_commit_point() {
    let mut h = H::new(1, 8, 100, 2);
    let driver = h.process(1);
    let ports = h.k.io_ports_cap(3);
    assert_eq!(
        h.obj(ports, order::GET_TYPE, &[], &[]).unwrap().0[0],
        CapType::IoPorts as u64
    );
    h.obj(ports, order::io_ports::GRANT, &[], &[driver])
        .unwrap();
    assert_eq!(
        h.k.platform.io_ports.lock().unwrap().get(&driver.obj),
        Some(&Some(3))
    );
    h.obj(ports, order::io_ports::REVOKE, &[], &[driver])
        .unwrap();
    assert_eq!(
        h.k.platform.io_ports.lock().unwrap().get(&driver.obj),
        Some(&None)
    );
    let other = h.process(1);
    assert_eq!(
        h.obj(ports, order::io_ports::GRANT, &[], &[h.root]),
        Err(Error::WrongType)
    );
    assert!(
        !h.k.platform
            .io_ports
            .lock()
            .unwrap()
            .contains_key(&other.obj),
        "a refused grant reaches nobody"
    );
}

#[test]
fn an_idle_cpu_steals_work_and_a_remote_wake_sends_an_ipi() {
    let mut h = H::new(2, 8, 100, 2);
    let s = h.process(4);
    let c = h.process(1);
    let ep = h.endpoint(s, 1);
    h.give(c, EP, ep, Rights::ALL);
    h.start(s);
    h.tick(0);
    assert_eq!(h.current(0), Some(s.obj));
    h.syscall(0, ret(0, &[]));
    h.start(c);
    h.tick(1);
    assert_eq!(
        h.current(1),
        Some(c.obj),
        "CPU 1 found the client, wherever it was homed"
    );
    h.k.platform.ipis.lock().unwrap().clear();
    h.syscall(1, inv(InvocationKind::Post, EP, 1, &[1], &[], [0; 4]));
    let ipis = h.k.platform.ipis.lock().unwrap().clone();
    assert_eq!(
        ipis,
        vec![h.cpus[0].id],
        "the server's CPU is idle: it is interrupted"
    );
    assert_eq!(h.current(1), Some(c.obj), "the poster goes on");
    h.tick(0);
    assert_eq!(
        h.current(0),
        Some(s.obj),
        "the server runs where it last ran"
    );
}

#[test]
fn a_process_may_halt_or_destroy_itself() {
    let mut h = H::new(1, 8, 100, 2);
    let p = h.process(0);
    let q = h.process(0);
    let root = h.root;
    h.give(p, 2, p, Rights::ALL);
    h.give(q, 1, root, Rights::ALL);
    h.give(q, 2, q, Rights::ALL);
    h.start(p);
    h.start(q);
    h.tick(0);
    assert_eq!(h.current(0), Some(p.obj));
    h.syscall(0, call(2, order::process::HALT, &[], &[], 0));
    assert_eq!(h.current(0), Some(q.obj), "the halted process left its CPU");
    assert_eq!(h.state(p), ProcessState::Halted);
    h.syscall(0, call(1, order::bank::DESTROY, &[], &[2], 0));
    assert_eq!(h.current(0), None, "the destroyed process is gone");
    assert_eq!(
        h.obj(q, order::process::INFO, &[], &[]),
        Err(Error::NullCapability)
    );
    h.start(p);
    h.tick(0);
    assert_eq!(h.current(0), Some(p.obj));
    assert_eq!(
        h.error(0),
        None,
        "its HALT returns success when it is resumed"
    );
}

/// Seed 002 reserves a sender queue for the waiter woken from its head until it runs. If that
/// owner has a low priority and a mid-priority process spins, the owner would never run and
/// every caller of the server, of any priority, would wait behind it for good (seen as a
/// four-CPU fuzz campaign going quiet). The owner runs at the server's priority until then.
#[test]
fn a_low_priority_owner_below_a_spinner_does_not_hold_off_a_server_for_good() {
    let mut h = H::new(1, 16, 100, 2);
    let s = h.process(9);
    let (first, low, high) = (h.process(9), h.process(1), h.process(8));
    for (c, badge) in [(first, 1), (low, 2), (high, 3)] {
        let ep = h.endpoint(s, badge);
        h.give(c, EP, ep, Rights::ALL);
    }
    h.start(s);
    h.tick(0);
    h.syscall(0, ret(0, &[]));
    h.start(first);
    h.tick(0);
    h.syscall(0, inv(InvocationKind::Call, EP, 1, &[], &[], WAIT));
    assert_eq!(h.current(0), Some(s.obj), "the server took the first call");
    h.obj(s, order::process::HALT, &[], &[]).unwrap();
    h.start(low);
    h.tick(0);
    assert_eq!(h.current(0), Some(low.obj));
    h.syscall(0, inv(InvocationKind::Call, EP, 2, &[], &[], WAIT));
    assert_eq!(
        h.state(low),
        ProcessState::Stalled,
        "the server is halted: the low caller waits"
    );
    let spinner = h.process(5);
    h.start(spinner);
    h.tick(0);
    assert_eq!(h.current(0), Some(spinner.obj));
    h.start(high);
    h.tick(0);
    h.syscall(0, inv(InvocationKind::Call, EP, 3, &[], &[], WAIT));
    assert_eq!(
        h.state(high),
        ProcessState::Stalled,
        "the high caller waits behind the low one"
    );
    h.obj(s, order::process::RESUME, &[], &[]).unwrap();
    let mut served = Vec::new();
    for _ in 0..40 {
        h.k.timer_tick(tessera_core::sync::CpuId::BOOT);
        h.tick(0);
        match h.current(0) {
            Some(p) if p == s.obj => {
                if served.last() != Some(&h.reply(0).badge) {
                    served.push(h.reply(0).badge);
                }
                h.syscall(0, ret(RESUME, &[]));
            }
            Some(p) if p == first.obj || p == low.obj || p == high.obj => {
                h.syscall(0, ret(0, &[]));
            }
            _ => {}
        }
    }
    assert_eq!(
        served,
        [1, 2, 3],
        "the server answered every caller in order, the spinner running"
    );
}
