//! The IRQ line protocol (`tessera_abi::order::irq`): an interrupt is POSTed to the bound
//! driver once, and the line is not posted again until the driver ACKs; a level-triggered
//! line is masked at the platform from its interrupt until the ACK, an edge-triggered one is
//! never masked while bound and an interrupt it takes meanwhile is posted after the ACK.
//! Hostile ACKs (unbound, not the caller's, twice, before any interrupt) are in `bad_input.rs`.
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use common::{call, inv, H};
use tessera_abi::message::{Invocation, MessageInfo};
use tessera_abi::post::IRQ_FIRED;
use tessera_abi::{order, InvocationKind, Rights};
use tessera_core::{Cap, Exit};

const IRQ: u8 = 5;
const LEVEL: u32 = 2;
const EDGE: u32 = 1;

/// The driver's open wait.
fn wait() -> Invocation {
    inv(InvocationKind::Return, 0, 0, &[], &[], [0; 4])
}

/// A driver process current on CPU 0 with line `line`'s capability in slot `IRQ`, the line
/// bound to its endpoint (badge 0xd), waiting for a message.
fn driver(line: u32, level: bool) -> (H, Cap, Cap) {
    let mut h = H::new(1, 8, 20, 2);
    if level {
        h.k.platform
            .irq_level
            .fetch_or(1 << line, std::sync::atomic::Ordering::SeqCst);
    }
    let d = h.process(1);
    let ep = h.endpoint(d, 0xd);
    let irq = h.k.irq_cap(line).unwrap();
    h.give(d, IRQ, irq, Rights::ALL);
    assert!(h.irq_masked(line), "a line starts masked");
    h.obj(irq, order::irq::BIND, &[], &[ep]).unwrap();
    assert!(!h.irq_masked(line), "BIND unmasks the line");
    h.start(d);
    h.tick(0);
    assert_eq!(h.current(0), Some(d.obj));
    assert_eq!(h.syscall(0, wait()), Exit::Idle);
    (h, d, irq)
}

/// Whether CPU 0 now runs `d` with an `IRQ_FIRED` of `line` as its received message.
fn got_irq(h: &H, d: Cap, line: u32) -> bool {
    let r = h.reply(0);
    let info = MessageInfo::unpack(r.info).unwrap();
    h.current(0) == Some(d.obj)
        && (info.kind, info.order, r.data[0], r.badge)
            == (InvocationKind::Post, IRQ_FIRED, u64::from(line), 0xd)
}

#[test]
fn a_level_line_stays_masked_from_its_interrupt_until_the_driver_acks() {
    let (mut h, d, _) = driver(LEVEL, true);
    assert!(h.fire(0, LEVEL).is_some());
    assert!(got_irq(&h, d, LEVEL));
    assert!(
        h.irq_masked(LEVEL),
        "masked while the driver drains its device"
    );
    assert!(
        h.fire(0, LEVEL).is_none(),
        "a masked line does not interrupt"
    );
    h.syscall(0, call(IRQ, order::irq::ACK, &[], &[], 0));
    assert_eq!(h.error(0), None);
    assert!(!h.irq_masked(LEVEL), "the ACK unmasks the line");
    assert_eq!(h.syscall(0, wait()), Exit::Idle);
    assert!(h.fire(0, LEVEL).is_some());
    assert!(
        got_irq(&h, d, LEVEL),
        "after the ACK the line is posted again"
    );
    h.check();
}

#[test]
fn an_edge_line_is_not_masked_and_fires_before_the_ack_are_posted_after_it() {
    let (mut h, d, irq) = driver(EDGE, false);
    assert!(h.fire(0, EDGE).is_some());
    assert!(got_irq(&h, d, EDGE));
    assert!(
        !h.irq_masked(EDGE),
        "an edge line is not masked for nothing"
    );
    // Two more edges while the driver drains: remembered, not posted yet.
    assert!(h.fire(0, EDGE).is_some());
    assert!(h.fire(0, EDGE).is_some());
    assert_eq!(h.k.pending_irqs(h.cpus[0].id), 0);
    assert_eq!(
        h.syscall(0, wait()),
        Exit::Idle,
        "nothing is posted before the ACK"
    );
    // The kernel itself may ACK any bound line (the driver waits here).
    h.obj(irq, order::irq::ACK, &[], &[]).unwrap();
    h.tick(0);
    assert!(
        got_irq(&h, d, EDGE),
        "the edge taken before the ACK is posted after it, once"
    );
    h.syscall(0, call(IRQ, order::irq::ACK, &[], &[], 0));
    assert_eq!(h.error(0), None);
    assert_eq!(
        h.syscall(0, wait()),
        Exit::Idle,
        "the two edges made one POST"
    );
    h.check();
}

#[test]
fn unbind_masks_the_line_and_forgets_the_awaited_ack() {
    let (mut h, d, irq) = driver(LEVEL, true);
    assert!(h.fire(0, LEVEL).is_some());
    assert!(got_irq(&h, d, LEVEL));
    h.obj(irq, order::irq::UNBIND, &[], &[]).unwrap();
    assert!(h.irq_masked(LEVEL), "an unbound line is masked");
    let ep = h.endpoint(d, 0xd);
    h.obj(irq, order::irq::BIND, &[], &[ep]).unwrap();
    assert!(!h.irq_masked(LEVEL), "binding again unmasks it");
    assert_eq!(h.syscall(0, wait()), Exit::Idle);
    assert!(h.fire(0, LEVEL).is_some());
    assert!(
        got_irq(&h, d, LEVEL),
        "a new binding awaits no ACK of the old one"
    );
    h.check();
}
