//! Priority ceilings: a program cannot raise itself or any process above its own ceiling, nor
//! above the ceiling of the capability it invokes, however it came by that capability.
#![cfg(not(loom))]

mod common;

use common::{call, H};
use tessera_abi::{order, CapType, Error, ProcessInfo, Rights};
use tessera_core::Cap;

const BANK: u8 = 1;
const SELF: u8 = 2;
/// A capability to itself with the kernel's (highest) ceiling, as a careless parent might give.
const SELF_HIGH: u8 = 3;
const CHILD: u8 = 4;
const LOWERED: u8 = 5;

/// A process of priority 5 and ceiling 10, current on CPU 0.
fn world() -> (H, Cap) {
    let mut h = H::new(1, 8, 20, 2);
    let p = h.process(5);
    let root = h.root;
    let (_, lowered) = h.obj(p, order::process::SET_CEILING, &[10], &[]).unwrap();
    let lowered = lowered.unwrap();
    h.give(p, BANK, root, Rights::ALL);
    h.give(p, SELF, lowered, Rights::ALL);
    h.give(p, SELF_HIGH, p, Rights::ALL);
    h.start(p);
    h.tick(0);
    assert_eq!(h.current(0), Some(p.obj));
    (h, p)
}

fn info(h: &mut H, p: Cap) -> ProcessInfo {
    let (d, _) = h.obj(p, order::process::INFO, &[], &[]).unwrap();
    ProcessInfo::unpack(d).unwrap()
}

#[test]
fn set_ceiling_returns_a_lowered_capability_and_never_raises() {
    let mut h = H::new(1, 8, 20, 2);
    let p = h.process(0);
    let (_, c) = h.obj(p, order::process::SET_CEILING, &[10], &[]).unwrap();
    let c = c.unwrap();
    assert_eq!(c.ceiling().get(), 10);
    assert_eq!(info(&mut h, p).ceiling, 10);
    assert_eq!(
        h.obj(c, order::process::SET_CEILING, &[11], &[])
            .unwrap_err(),
        Error::MissingRights
    );
    assert_eq!(
        h.obj(c, order::process::SET_PRIORITY, &[11], &[])
            .unwrap_err(),
        Error::MissingRights
    );
    assert_eq!(
        h.obj(c, order::process::SET_CEILING, &[32], &[])
            .unwrap_err(),
        Error::InvalidArgument
    );
    h.obj(c, order::process::SET_PRIORITY, &[10], &[]).unwrap();
    assert_eq!(info(&mut h, p).priority, 10);
}

#[test]
fn a_program_cannot_raise_itself_above_its_ceiling() {
    let (mut h, p) = world();
    h.syscall(0, call(SELF, order::process::SET_PRIORITY, &[11], &[], 0));
    assert_eq!(
        h.error(0),
        Some(Error::MissingRights),
        "above the capability's ceiling"
    );
    h.syscall(
        0,
        call(SELF_HIGH, order::process::SET_PRIORITY, &[31], &[], 0),
    );
    assert_eq!(
        h.error(0),
        Some(Error::MissingRights),
        "a high-ceiling capability does not lift the caller's own ceiling"
    );
    h.syscall(
        0,
        call(SELF_HIGH, order::process::SET_CEILING, &[11], &[], 0),
    );
    assert_eq!(h.error(0), Some(Error::MissingRights));
    h.syscall(0, call(SELF, order::process::SET_PRIORITY, &[10], &[], 0));
    assert_eq!(h.error(0), None, "up to the ceiling is allowed");
    assert_eq!(info(&mut h, p).priority, 10);
}

#[test]
fn processes_a_program_creates_inherit_its_ceiling() {
    let (mut h, _) = world();
    h.syscall(
        0,
        call(
            BANK,
            order::bank::CREATE,
            &[CapType::Process as u64],
            &[],
            CHILD,
        ),
    );
    assert_eq!(h.error(0), None);
    h.syscall(0, call(CHILD, order::process::SET_PRIORITY, &[11], &[], 0));
    assert_eq!(h.error(0), Some(Error::MissingRights));
    h.syscall(
        0,
        call(CHILD, order::process::SET_CEILING, &[4], &[], LOWERED),
    );
    assert_eq!(h.error(0), None);
    h.syscall(0, call(LOWERED, order::process::SET_PRIORITY, &[5], &[], 0));
    assert_eq!(
        h.error(0),
        Some(Error::MissingRights),
        "the lowered copy stops at 4"
    );
    h.syscall(0, call(CHILD, order::process::SET_PRIORITY, &[10], &[], 0));
    assert_eq!(h.error(0), None, "the creator's own copy keeps ceiling 10");
    h.syscall(0, call(CHILD, order::process::INFO, &[], &[], 0));
    let child = ProcessInfo::unpack(h.reply(0).data).unwrap();
    assert_eq!((child.priority, child.ceiling), (10, 4));
}
