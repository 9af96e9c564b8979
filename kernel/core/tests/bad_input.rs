//! Bad input never panics the kernel: every wrong capability type, missing right, unknown
//! order, out-of-range word, malformed message or destroyed object gets its defined error
//! code from the ABI crate. One test per error code, each with every case that must give it.
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use common::{call, inv, H};
use tessera_abi::message::{CapWord, Invocation, MessageInfo};
use tessera_abi::order::space::USER_PAGES;
use tessera_abi::{order, CapType, Error, InvocationKind, Rights};
use tessera_core::Cap;

const BANK: u8 = 1;
const SELF_RO: u8 = 2;
const PAGE_RO: u8 = 4;
const SPACE: u8 = 5;
const CAP_PAGE: u8 = 6;
const IRQ: u8 = 7;
const PAGE: u8 = 8;
const DEAD_PAGE: u8 = 9;
const OWN_EP: u8 = 10;
const SMALL_BANK: u8 = 11;
const OTHER: u8 = 12;
const SPACE_RO: u8 = 13;
const PORTS: u8 = 14;
const PORTS_RO: u8 = 15;
const IRQ_RO: u8 = 16;
const SCRATCH: u8 = 30;

/// A process current on CPU 0 holding the capabilities named above.
fn world() -> (H, Cap) {
    let mut h = H::new(1, 8, 20, 2);
    let p = h.process(0);
    let root = h.root;
    let page = h.create(CapType::Page);
    let dead = h.create(CapType::Page);
    let space = h.create(CapType::AddressSpace);
    let cap_page = h.create(CapType::CapPage);
    let other = h.process(0);
    let small = h
        .obj(root, order::bank::CREATE, &[CapType::Bank as u64, 1], &[])
        .unwrap()
        .1
        .unwrap();
    let ep = h.endpoint(p, 1);
    let irq = h.k.irq_cap(1).unwrap();
    let ports = h.k.io_ports_cap(0);
    for (slot, cap, rights) in [
        (BANK, root, Rights::ALL),
        (SELF_RO, p, Rights::READ),
        (PAGE_RO, page, Rights::READ),
        (SPACE, space, Rights::ALL),
        (CAP_PAGE, cap_page, Rights::ALL),
        (IRQ, irq, Rights::ALL),
        (PAGE, page, Rights::ALL),
        (DEAD_PAGE, dead, Rights::ALL),
        (OWN_EP, ep, Rights::ALL),
        (SMALL_BANK, small, Rights::ALL),
        (OTHER, other, Rights::ALL),
        (SPACE_RO, space, Rights::READ),
        (PORTS, ports, Rights::ALL),
        (PORTS_RO, ports, Rights::READ),
        (IRQ_RO, irq, Rights::READ),
    ] {
        h.give(p, slot, cap, rights);
    }
    h.obj(root, order::bank::DESTROY, &[], &[dead]).unwrap();
    h.start(p);
    h.tick(0);
    assert_eq!(h.current(0), Some(p.obj));
    (h, p)
}

/// Each invocation must fail with `want` and leave the process running.
fn expect(want: Error, cases: &[Invocation]) {
    let (mut h, p) = world();
    for (i, c) in cases.iter().enumerate() {
        h.syscall(0, *c);
        assert_eq!(h.current(0), Some(p.obj), "case {i} stopped the process");
        assert_eq!(h.error(0), Some(want), "case {i}: {c:?}");
    }
}

fn raw(cap: u8, info: u64, caps: CapWord) -> Invocation {
    Invocation {
        cap: u64::from(cap),
        info,
        data: [0; 4],
        caps: caps.pack(),
    }
}

#[test]
fn invalid_cap_index() {
    expect(
        Error::InvalidCapIndex,
        &[
            call(64, order::GET_TYPE, &[], &[], 0),
            call(255, order::GET_TYPE, &[], &[], 0),
            call(BANK, order::bank::DESTROY, &[], &[200], 0),
            call(BANK, order::bank::AVAILABLE, &[], &[], 64),
        ],
    );
}

#[test]
fn null_capability() {
    expect(
        Error::NullCapability,
        &[
            call(0, order::GET_TYPE, &[], &[], 0),
            call(40, order::page::ZERO, &[], &[], 0),
            call(DEAD_PAGE, order::page::READ_WORD, &[0], &[], 0),
            inv(InvocationKind::Send, 0, 0, &[], &[], [0; 4]),
            inv(InvocationKind::Post, DEAD_PAGE, 1, &[1], &[], [0; 4]),
        ],
    );
}

#[test]
fn wrong_type() {
    expect(
        Error::WrongType,
        &[
            inv(InvocationKind::Return, PAGE, 0, &[], &[], [0; 4]),
            inv(InvocationKind::Return, OWN_EP, 0, &[], &[], [0; 4]),
            call(BANK, order::bank::DESTROY, &[], &[OWN_EP], 0),
            call(BANK, order::bank::DESTROY, &[], &[IRQ], 0),
            call(SPACE, order::space::MAP, &[0, 1], &[SPACE], 0),
            call(OTHER, order::process::SET_SPACE, &[], &[PAGE], 0),
            call(IRQ, order::irq::BIND, &[], &[PAGE], 0),
            call(PORTS, order::io_ports::GRANT, &[], &[PAGE], 0),
            call(PORTS, order::io_ports::REVOKE, &[], &[OWN_EP], 0),
        ],
    );
}

#[test]
fn missing_rights() {
    expect(
        Error::MissingRights,
        &[
            call(SELF_RO, order::process::HALT, &[], &[], 0),
            call(SELF_RO, order::process::SET_PRIORITY, &[1], &[], 0),
            call(PAGE_RO, order::page::WRITE_WORD, &[0, 1], &[], 0),
            call(PAGE_RO, order::page::ZERO, &[], &[], 0),
            call(
                SPACE,
                order::space::MAP,
                &[0, Rights::WRITE.raw()],
                &[PAGE_RO],
                0,
            ),
            call(SPACE_RO, order::space::UNMAP, &[0], &[], 0),
            call(PORTS_RO, order::io_ports::GRANT, &[], &[OTHER], 0),
            call(PORTS, order::io_ports::GRANT, &[], &[SELF_RO], 0),
            call(IRQ_RO, order::irq::ACK, &[], &[], 0),
        ],
    );
}

#[test]
fn unknown_order() {
    expect(
        Error::UnknownOrder,
        &[
            call(BANK, 999, &[], &[], 0),
            call(SELF_RO, 999, &[], &[], 0),
            call(PAGE, 999, &[], &[], 0),
            call(SPACE, 999, &[], &[], 0),
            call(CAP_PAGE, 999, &[], &[], 0),
            call(IRQ, 999, &[], &[], 0),
            call(PORTS, 999, &[], &[], 0),
        ],
    );
}

#[test]
fn invalid_argument() {
    expect(
        Error::InvalidArgument,
        &[
            call(BANK, order::bank::CREATE, &[99], &[], SCRATCH),
            call(
                BANK,
                order::bank::CREATE,
                &[CapType::Endpoint as u64],
                &[],
                SCRATCH,
            ),
            call(
                BANK,
                order::bank::CREATE,
                &[CapType::Bank as u64, u64::MAX],
                &[],
                SCRATCH,
            ),
            call(OTHER, order::process::SET_PRIORITY, &[32], &[], 0),
            call(OTHER, order::process::SET_CAP, &[0], &[PAGE], 0),
            call(OTHER, order::process::SET_CAP, &[64], &[PAGE], 0),
            call(OTHER, order::process::SET_CAP, &[3, 8], &[PAGE], 0),
            call(OTHER, order::process::GET_CAP, &[64], &[], SCRATCH),
            call(PAGE, order::page::READ_WORD, &[512], &[], 0),
            call(PAGE, order::page::WRITE_WORD, &[u64::MAX, 0], &[], 0),
            call(SPACE, order::space::MAP, &[USER_PAGES, 1], &[PAGE], 0),
            call(SPACE, order::space::MAP, &[0, 0], &[PAGE], 0),
            call(SPACE, order::space::MAP, &[0, 8], &[PAGE], 0),
            call(SPACE, order::space::LOOKUP, &[u64::MAX], &[], 0),
            call(CAP_PAGE, order::cap_page::STORE, &[64], &[PAGE], 0),
            call(CAP_PAGE, order::cap_page::LOAD, &[u64::MAX], &[], SCRATCH),
        ],
    );
}

#[test]
fn bad_message() {
    let post2 = MessageInfo::new(InvocationKind::Post, 1, 2, 0).pack();
    let post_cap = MessageInfo::new(InvocationKind::Post, 1, 1, 1).pack();
    let call4 = MessageInfo::new(InvocationKind::Call, 1, 0, 4).pack();
    let mut resume_bit = MessageInfo::new(InvocationKind::Call, 0, 0, 0);
    resume_bit.resume = true;
    let no = CapWord::default();
    expect(
        Error::BadMessage,
        &[
            raw(PAGE, 1 << 20, no),
            raw(PAGE, 5 << 4, no),
            raw(PAGE, 6 << 8, no),
            raw(OWN_EP, post2, no),
            raw(OWN_EP, post_cap, no),
            raw(OWN_EP, call4, no),
            raw(PAGE, resume_bit.pack(), no),
        ],
    );
}

#[test]
fn out_of_quota() {
    let (mut h, p) = world();
    h.syscall(
        0,
        call(
            SMALL_BANK,
            order::bank::CREATE,
            &[CapType::Page as u64],
            &[],
            SCRATCH,
        ),
    );
    assert_eq!(h.error(0), None);
    h.syscall(
        0,
        call(
            SMALL_BANK,
            order::bank::CREATE,
            &[CapType::Page as u64],
            &[],
            SCRATCH,
        ),
    );
    assert_eq!(
        h.error(0),
        Some(Error::OutOfQuota),
        "the bank's quota is spent"
    );
    let mut made = 0;
    loop {
        h.syscall(
            0,
            call(BANK, order::bank::CREATE, &[CapType::Page as u64], &[], 0),
        );
        match h.error(0) {
            None => made += 1,
            Some(e) => {
                assert_eq!(e, Error::OutOfQuota, "frames or quota ran out");
                break;
            }
        }
        assert!(made < 100);
    }
    assert_eq!(h.current(0), Some(p.obj));
}

#[test]
fn bad_address() {
    let (mut h, _) = world();
    assert_eq!(
        h.k.resolve_fault(&mut h.cpus[0], 5),
        Err(Error::BadAddress),
        "no address space"
    );
}

#[test]
fn bad_state() {
    expect(
        Error::BadState,
        &[
            call(OTHER, order::process::HALT, &[], &[], 0),
            inv(InvocationKind::Call, OWN_EP, 1, &[], &[], [0; 4]),
            inv(InvocationKind::Send, OWN_EP, 1, &[], &[], [0; 4]),
            call(SPACE, order::space::UNMAP, &[3], &[], 0),
            call(IRQ, order::irq::UNBIND, &[], &[], 0),
            call(IRQ, order::irq::ACK, &[], &[], 0),
        ],
    );
    let (mut h, _) = world();
    h.syscall(0, call(OTHER, order::process::RESUME, &[], &[], 0));
    assert_eq!(h.error(0), None);
    for c in [
        call(OTHER, order::process::RESUME, &[], &[], 0),
        call(OTHER, order::process::SET_ENTRY, &[0, 0, 0], &[], 0),
    ] {
        h.syscall(0, c);
        assert_eq!(h.error(0), Some(Error::BadState), "{c:?}");
    }
    h.syscall(0, call(SPACE, order::space::MAP, &[3, 1], &[PAGE], 0));
    assert_eq!(h.error(0), None);
    h.syscall(0, call(SPACE, order::space::MAP, &[3, 1], &[PAGE], 0));
    assert_eq!(h.error(0), Some(Error::BadState), "mapped twice");
    h.syscall(0, call(IRQ, order::irq::BIND, &[], &[OWN_EP], 0));
    assert_eq!(h.error(0), None);
    h.syscall(0, call(IRQ, order::irq::BIND, &[], &[OWN_EP], 0));
    assert_eq!(h.error(0), Some(Error::BadState), "bound twice");
    h.syscall(0, call(IRQ, order::irq::ACK, &[], &[], 0));
    assert_eq!(
        h.error(0),
        Some(Error::BadState),
        "ACK before any interrupt"
    );
    h.k.note_irq(h.cpus[0].id, 1);
    h.tick(0);
    h.syscall(0, call(IRQ, order::irq::ACK, &[], &[], 0));
    assert_eq!(
        h.error(0),
        None,
        "the ACK of the interrupt posted to the caller"
    );
    h.syscall(0, call(IRQ, order::irq::ACK, &[], &[], 0));
    assert_eq!(h.error(0), Some(Error::BadState), "ACKed twice");
    h.syscall(
        0,
        call(
            SMALL_BANK,
            order::bank::CREATE,
            &[CapType::Page as u64],
            &[],
            SCRATCH,
        ),
    );
    h.syscall(0, call(BANK, order::bank::DESTROY, &[], &[SMALL_BANK], 0));
    assert_eq!(
        h.error(0),
        Some(Error::BadState),
        "a bank that still holds objects"
    );
}

#[test]
fn not_owner() {
    expect(
        Error::NotOwner,
        &[call(SMALL_BANK, order::bank::DESTROY, &[], &[PAGE], 0)],
    );
    // An IRQ line bound to another process's endpoint, fired, then that driver destroyed:
    // the caller holds the line's capability but may not ACK for the driver, alive or dead.
    let (mut h, _) = world();
    let q = h.process(0);
    let ep = h.endpoint(q, 2);
    let irq = h.k.irq_cap(1).unwrap();
    h.obj(irq, order::irq::BIND, &[], &[ep]).unwrap();
    h.k.note_irq(h.cpus[0].id, 1);
    h.tick(0);
    h.syscall(0, call(IRQ, order::irq::ACK, &[], &[], 0));
    assert_eq!(
        h.error(0),
        Some(Error::NotOwner),
        "the line awaits another process's ACK"
    );
    let root = h.root;
    h.obj(root, order::bank::DESTROY, &[], &[q]).unwrap();
    h.syscall(0, call(IRQ, order::irq::ACK, &[], &[], 0));
    assert_eq!(
        h.error(0),
        Some(Error::NotOwner),
        "the line's driver is destroyed"
    );
    h.obj(irq, order::irq::UNBIND, &[], &[]).unwrap();
    h.syscall(0, call(IRQ, order::irq::ACK, &[], &[], 0));
    assert_eq!(h.error(0), Some(Error::BadState), "the line is unbound");
}

#[test]
fn null_argument() {
    expect(
        Error::NullArgument,
        &[
            call(BANK, order::bank::DESTROY, &[], &[0], 0),
            call(BANK, order::bank::DESTROY, &[], &[DEAD_PAGE], 0),
            call(SPACE, order::space::MAP, &[0, 1], &[0], 0),
            call(SPACE, order::space::MAP, &[0, 1], &[DEAD_PAGE], 0),
            call(OTHER, order::process::SET_SPACE, &[], &[0], 0),
            call(IRQ, order::irq::BIND, &[], &[0], 0),
            call(PORTS, order::io_ports::GRANT, &[], &[0], 0),
        ],
    );
}

#[test]
fn halted() {
    let mut h = H::new(1, 4, 20, 2);
    let s = h.process(0);
    let c = h.process(0);
    let ep = h.endpoint(s, 1);
    h.give(c, 10, ep, Rights::ALL);
    h.start(s);
    h.start(c);
    h.tick(0);
    h.syscall(0, inv(InvocationKind::Return, 0, 0, &[], &[], [0, 0, 0, 3]));
    h.syscall(0, inv(InvocationKind::Call, 10, 1, &[], &[], [0; 4]));
    h.obj(c, order::process::HALT, &[], &[]).unwrap();
    h.obj(c, order::process::RESUME, &[], &[]).unwrap();
    h.syscall(0, inv(InvocationKind::Return, 0, 0, &[], &[], [0; 4]));
    assert_eq!(h.current(0), Some(c.obj));
    assert_eq!(h.error(0), Some(Error::Halted));
}

#[test]
fn would_block() {
    let mut h = H::new(1, 4, 20, 2);
    let s = h.process(0);
    let c = h.process(0);
    let ep = h.endpoint(s, 1);
    h.give(c, 10, ep, Rights::ALL);
    h.start(c);
    h.tick(0);
    for kind in [InvocationKind::Call, InvocationKind::Send] {
        let mut i = inv(kind, 10, 1, &[], &[], [0; 4]);
        i.info |= MessageInfo::NONBLOCKING;
        h.syscall(0, i);
        assert_eq!(
            h.error(0),
            Some(Error::WouldBlock),
            "{kind:?} to a halted server"
        );
    }
    assert_eq!(h.current(0), Some(c.obj));
}

#[test]
fn every_error_code_has_a_test_above() {
    assert_eq!(
        Error::ALL.len(),
        14,
        "a new error code needs its own test in this file"
    );
}
