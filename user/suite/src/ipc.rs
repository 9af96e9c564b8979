//! CALL+RETURN, SEND and POST to a waiting receiver, across address spaces (the tester and
//! echo), checked through echo's counters.

use crate::tester::{ensure, step, Outcome};
use alloc::format;
use tessera_user::invoke;
use tessera_user::{echo, slots};

/// echo's counters: (posts, sends, out of order, calls).
pub fn stats() -> Result<(u64, u64, u64, u64), alloc::string::String> {
    let r = step(
        "CALL echo STATS",
        invoke::call(slots::ECHO, echo::STATS, &[], &[]),
    )?;
    Ok((r.data[0], r.data[1], r.data[2], r.data[3]))
}

pub fn reset() -> Outcome {
    step(
        "CALL echo RESET",
        invoke::call(slots::ECHO, echo::RESET, &[], &[]),
    )
    .map(|_| ())
}

pub fn call_return_round_trip() -> Outcome {
    let r = step(
        "CALL echo PLUS_ONE",
        invoke::call(slots::ECHO, echo::PLUS_ONE, &[1, 2, 3, u64::MAX], &[]),
    )?;
    ensure(r.data == [2, 3, 4, 0], || format!("reply {:?}", r.data))?;
    ensure(r.badge == 0, || {
        format!("a reply carries badge {:#x}", r.badge)
    })
}

pub fn send_is_taken_once() -> Outcome {
    reset()?;
    step(
        "SEND to echo",
        invoke::send(slots::ECHO, echo::COUNT, &[7], &[]),
    )?;
    let s = stats()?;
    ensure(s.1 == 1 && s.0 == 0, || {
        format!("echo counted {s:?} after one SEND")
    })
}

pub fn post_to_waiting_receiver() -> Outcome {
    reset()?;
    step("POST to echo", invoke::post(slots::ECHO, echo::COUNT, 0))?;
    let s = stats()?;
    ensure(s.0 == 1 && s.2 == 0, || {
        format!("echo counted {s:?} after one POST")
    })
}
