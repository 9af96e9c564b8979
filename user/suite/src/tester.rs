//! The tester's own endpoints and waiting: an endpoint to itself for helpers' reports, holding
//! echo busy (echo CALLs the tester and waits), and bounded polling (of a process's state, say)
//! that naps between looks without taking the tester's messages.
//!
//! Invariants: the suite's slots are the sleeper's (`crate::sleeper`, 16 to 18), [`ENDPOINT`],
//! [`HOLD_RESUME`] and [`SCRATCH`] and up;
//! no message is waited for unless something already queued or about to be queued ends the
//! wait (a POST to itself is queued until it next waits), so the suite never hangs on a
//! helper that failed.

use crate::sleeper::Sleeper;
use alloc::format;
use alloc::string::String;
use tessera_user::abi::message::{InvocationKind, MessageInfo};
use tessera_user::abi::{Error, ProcessInfo, ProcessState};
use tessera_user::invoke::{self, Received};
use tessera_user::{caps, clock, echo, slots};

/// An endpoint to the tester itself with [`BADGE`].
pub const ENDPOINT: u8 = 20;
/// Where echo's resume capability lands while echo is held.
pub const HOLD_RESUME: u8 = 21;
/// Slots from here on are the tests' own.
pub const SCRATCH: u8 = 24;
/// The badge on [`ENDPOINT`].
pub const BADGE: u64 = 0x7e57;
/// The order of the POST the tester sends itself to end a wait.
const WAKE: u32 = 0x7e;

/// The result of one test.
pub type Outcome = Result<(), String>;

/// `Ok` if `cond`, else the message.
pub fn ensure(cond: bool, why: impl FnOnce() -> String) -> Outcome {
    if cond {
        Ok(())
    } else {
        Err(why())
    }
}

/// Turns a kernel error into a test failure naming what was being done.
pub fn step<T>(what: &str, r: Result<T, Error>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

/// Makes [`ENDPOINT`].
pub fn make_endpoint() -> Outcome {
    step(
        "make an endpoint to self",
        caps::make_endpoint(slots::SELF, BADGE, ENDPOINT),
    )
}

/// Makes echo busy: it CALLs the tester and waits for the answer, so its callers queue.
pub fn hold_echo() -> Outcome {
    step(
        "send HOLD to echo",
        invoke::send(slots::ECHO, echo::HOLD, &[], &[ENDPOINT]),
    )?;
    let m = step(
        "wait for echo's CALL",
        invoke::raw(
            InvocationKind::Return,
            0,
            0,
            &[],
            &[],
            [0, 0, 0, HOLD_RESUME],
        ),
    )?;
    let resume = MessageInfo::unpack(m.info).is_some_and(|i| i.resume);
    ensure(
        m.badge == BADGE && m.order() == echo::HELD && resume,
        || format!("expected echo's HELD call, got {m:?}"),
    )
}

/// Lets echo go on (the reply to its CALL, through SEND so the tester does not wait).
pub fn release_echo() -> Outcome {
    step(
        "release echo",
        invoke::send(HOLD_RESUME, 0, &[], &[]).map(|_| ()),
    )
}

/// Receives every message queued for the tester up to a POST it sends itself now.
pub fn drain(mut each: impl FnMut(&Received)) -> Outcome {
    step("post to self", invoke::post(ENDPOINT, WAKE, 0))?;
    loop {
        let m = step("wait", invoke::wait())?;
        if m.badge == BADGE && m.order() == WAKE {
            return Ok(());
        }
        each(&m);
    }
}

/// How long a helper may take to reach a state or send what is awaited.
const PATIENCE_NS: u64 = 2_000_000_000;
/// The first nap between two looks of [`poll`]; each next one is twice as long, up to
/// [`LONGEST_NAP_NS`], so a quick change is seen soon and a slow one costs few looks.
const FIRST_NAP_NS: u64 = 50_000;
const LONGEST_NAP_NS: u64 = 5_000_000;

/// Looks with `look` until it finds something (`Ok(Some)`), napping between looks, or until
/// [`PATIENCE_NS`] have passed (`Ok(None)`). The naps are a [`Sleeper`]'s, so whatever is sent
/// to the tester meanwhile stays queued; the first look comes before any nap.
pub fn poll<T>(mut look: impl FnMut() -> Result<Option<T>, String>) -> Result<Option<T>, String> {
    if let Some(found) = look()? {
        return Ok(Some(found));
    }
    let sleeper = Sleeper::new()?;
    let give_up = clock::now_ns().saturating_add(PATIENCE_NS);
    let mut nap = FIRST_NAP_NS;
    while clock::now_ns() < give_up {
        sleeper.nap(nap)?;
        nap = (2 * nap).min(LONGEST_NAP_NS);
        if let Some(found) = look()? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Waits until `process`'s state satisfies `want`, for at most [`PATIENCE_NS`]; returns its
/// INFO then.
pub fn await_state(
    process: u8,
    want: impl Fn(ProcessState) -> bool,
) -> Result<ProcessInfo, String> {
    let mut last = None;
    let found = poll(|| {
        let info = step("INFO", caps::info(process))?;
        last = Some(info);
        Ok(want(info.state).then_some(info))
    })?;
    found.ok_or_else(|| match last {
        Some(info) => format!("process {} stayed {}", info.pid, info.state.name()),
        None => String::from("no INFO"),
    })
}
