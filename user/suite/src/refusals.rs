//! Bad input refused with the right `Error` code, and the system unharmed: every test expects
//! exactly one code from one invocation.

use crate::tester::{
    ensure, hold_echo, release_echo, step, Outcome, ENDPOINT, HOLD_RESUME, SCRATCH,
};
use crate::Ctx;
use alloc::format;
use tessera_user::abi::message::{CapWord, InvocationKind, MessageInfo};
use tessera_user::abi::{
    cap::CAP_SPACE_SLOTS, order, process::PRIORITY_LEVELS, CapType, Error, Rights,
};
use tessera_user::invoke::{self, Received};
use tessera_user::{caps, slots};

/// Slots the refusal tests fill.
const RESTRICTED: u8 = SCRATCH + 12;
const PAGE: u8 = SCRATCH + 13;
/// Never filled by anyone.
const EMPTY: u8 = SCRATCH + 14;
const CHILD: u8 = SCRATCH + 15;

fn expect<T: core::fmt::Debug>(what: &str, got: Result<T, Error>, want: Error) -> Outcome {
    ensure(matches!(got, Err(e) if e == want), || {
        format!("{what}: got {got:?}, expected {want:?}")
    })
}

pub fn invalid_cap_index() -> Outcome {
    expect(
        "invoke slot 200",
        caps::get_type(200),
        Error::InvalidCapIndex,
    )?;
    expect(
        "invoke slot 64",
        caps::get_type(CAP_SPACE_SLOTS as u8),
        Error::InvalidCapIndex,
    )?;
    let forged = invoke::call(slots::SELF, order::process::SET_SPACE, &[], &[250]);
    expect("pass slot 250", forged, Error::InvalidCapIndex)
}

pub fn null_capability() -> Outcome {
    expect(
        "invoke slot 0",
        invoke::call(0, order::process::HALT, &[], &[]),
        Error::NullCapability,
    )?;
    expect(
        "invoke a Null slot",
        invoke::call(EMPTY, order::process::HALT, &[], &[]),
        Error::NullCapability,
    )
}

pub fn wrong_type() -> Outcome {
    expect(
        "destroy an endpoint",
        caps::destroy(slots::BANK, slots::ECHO),
        Error::WrongType,
    )?;
    expect(
        "SET_SPACE to a bank",
        caps::set_space(slots::SELF, slots::BANK),
        Error::WrongType,
    )
}

pub fn missing_rights() -> Outcome {
    step(
        "make a read-only bank copy",
        caps::set_cap(slots::SELF, RESTRICTED, slots::BANK, Rights::READ),
    )?;
    step("read through it", caps::available(RESTRICTED))?;
    expect(
        "create through it",
        caps::create(RESTRICTED, CapType::Page, PAGE),
        Error::MissingRights,
    )
}

pub fn unknown_order() -> Outcome {
    expect(
        "bank order 99",
        invoke::call(slots::BANK, 99, &[], &[]),
        Error::UnknownOrder,
    )?;
    expect(
        "process order 0xffff",
        invoke::call(slots::SELF, 0xffff, &[], &[]),
        Error::UnknownOrder,
    )
}

/// init gave the suite its priority as its ceiling: neither it nor a process it creates can be
/// raised above it, through any capability.
pub fn above_priority_ceiling(ctx: &Ctx) -> Outcome {
    let info = step("info", caps::info(slots::SELF))?;
    ensure(u64::from(info.ceiling) == ctx.priority, || {
        format!("ceiling {} but priority {}", info.ceiling, ctx.priority)
    })?;
    expect(
        "raise itself",
        caps::set_priority(slots::SELF, ctx.priority + 1),
        Error::MissingRights,
    )?;
    expect(
        "raise its own ceiling",
        caps::set_ceiling(slots::SELF, ctx.priority + 1, RESTRICTED),
        Error::MissingRights,
    )?;
    step(
        "create a process",
        caps::create(slots::BANK, CapType::Process, CHILD),
    )?;
    let raised = caps::set_priority(CHILD, ctx.priority + 1);
    let at_ceiling = caps::set_priority(CHILD, ctx.priority);
    step("destroy it", caps::destroy(slots::BANK, CHILD))?;
    expect("raise a process it created", raised, Error::MissingRights)?;
    step("give it the ceiling itself", at_ceiling)
}

pub fn out_of_range_words() -> Outcome {
    expect(
        "priority 32",
        caps::set_priority(slots::SELF, PRIORITY_LEVELS),
        Error::InvalidArgument,
    )?;
    expect(
        "set slot 64",
        caps::set_cap(slots::SELF, CAP_SPACE_SLOTS as u8, slots::ECHO, Rights::ALL),
        Error::InvalidArgument,
    )?;
    expect(
        "create type 99",
        invoke::call(slots::BANK, order::bank::CREATE, &[99], &[]),
        Error::InvalidArgument,
    )?;
    step(
        "create a page",
        caps::create(slots::BANK, CapType::Page, PAGE),
    )?;
    let word = caps::write_word(PAGE, 512, 1);
    step("destroy the page", caps::destroy(slots::BANK, PAGE))?;
    expect("write word 512", word, Error::InvalidArgument)
}

pub fn malformed_message() -> Outcome {
    let reserved = MessageInfo::new(InvocationKind::Call, order::GET_TYPE, 0, 0).pack() | 1 << 20;
    expect(
        "reserved info bits",
        invoke::registers(slots::SELF as u64, reserved, [0; 4], 0),
        Error::BadMessage,
    )?;
    let too_many = MessageInfo::new(InvocationKind::Call, order::GET_TYPE, 0, 0).pack() | 5 << 4;
    expect(
        "five data words",
        invoke::registers(slots::SELF as u64, too_many, [0; 4], 0),
        Error::BadMessage,
    )
}

pub fn destroyed_object() -> Outcome {
    step(
        "create a page",
        caps::create(slots::BANK, CapType::Page, PAGE),
    )?;
    step("destroy it", caps::destroy(slots::BANK, PAGE))?;
    expect(
        "zero the destroyed page",
        caps::zero_page(PAGE),
        Error::NullCapability,
    )?;
    expect(
        "destroy it twice",
        caps::destroy(slots::BANK, PAGE),
        Error::NullArgument,
    )
}

pub fn dead_resume_capability() -> Outcome {
    hold_echo()?;
    release_echo()?;
    expect(
        "SEND through a used resume",
        invoke::send(HOLD_RESUME, 0, &[], &[]),
        Error::NullCapability,
    )?;
    step("post to self", invoke::post(ENDPOINT, 0x5e1f, 9))?;
    let caps = CapWord {
        send: [0; 4],
        recv: [0; 4],
    }
    .pack();
    let info = MessageInfo::new(InvocationKind::Return, 0, 1, 0).pack();
    let r: Result<Received, Error> =
        invoke::registers(HOLD_RESUME as u64, info, [42, 0, 0, 0], caps);
    let r = step("RETURN through a used resume", r)?;
    ensure(r.order() == 0x5e1f && r.data[0] == 9, || {
        format!("the RETURN went on to {r:?}, expected the post to self")
    })
}
