//! Non-blocking invocations (seed 000, section 8): `wouldblock_call`, a non-blocking CALL to a
//! busy echo that gets `WouldBlock` (its request registered already: the retry loop's case),
//! to set beside `null_invocation`; and `wouldblock_retry`, the round trip from a non-blocking
//! CALL that gets `WouldBlock` to the retry's reply: the CALL, echo released (a SEND through
//! its resume capability) and waiting again, the notification's POST received, and the
//! retried CALL to echo and its RETURN.
//!
//! Assumes: echo is waiting when it starts; slots 52..=55 are free. Leaves no notification
//! endpoint set.

use crate::measure::{from_total, per_op, PerOp};
use tessera_user::abi::message::InvocationKind;
use tessera_user::abi::post::NOTIFIED;
use tessera_user::abi::Error;
use tessera_user::nonblocking::{set_notify, try_invoke, Attempt};
use tessera_user::{caps, echo, invoke, slots, tsc};

/// An endpoint to this process for echo's CALL while held.
const HOLD_EP: u8 = 52;
const HOLD_RESUME: u8 = 53;
/// An endpoint to this process for notifications.
const NOTIFY_EP: u8 = 54;
const HOLD_BADGE: u64 = 0xb1;
const NOTIFY_BADGE: u64 = 0xb2;
const WORD: u64 = 0x77;

fn hold() -> Result<(), Error> {
    invoke::send(slots::ECHO, echo::HOLD, &[], &[HOLD_EP])?;
    loop {
        let m = invoke::raw(
            InvocationKind::Return,
            0,
            0,
            &[],
            &[],
            [0, 0, 0, HOLD_RESUME],
        )?;
        if m.badge == HOLD_BADGE && m.order() == echo::HELD {
            return Ok(());
        }
    }
}

fn release() -> Result<(), Error> {
    invoke::send(HOLD_RESUME, 0, &[], &[]).map(|_| ())
}

fn try_call() -> Result<Attempt, Error> {
    try_invoke(
        InvocationKind::Call,
        slots::ECHO,
        echo::PLUS_ONE,
        &[1],
        &[],
        [0; 4],
    )
}

fn wait_notified() -> Result<(), Error> {
    loop {
        let m = invoke::wait()?;
        if m.badge == NOTIFY_BADGE && m.order() == NOTIFIED && m.data[0] == WORD {
            return Ok(());
        }
    }
}

/// Prints `wouldblock_call` and `wouldblock_retry`.
pub fn run(show: fn(&str, Result<PerOp, Error>)) {
    let set = caps::make_endpoint(slots::SELF, HOLD_BADGE, HOLD_EP)
        .and_then(|()| caps::make_endpoint(slots::SELF, NOTIFY_BADGE, NOTIFY_EP))
        .and_then(|()| set_notify(slots::SELF, NOTIFY_EP, WORD));
    match set {
        Ok(()) => {
            show("wouldblock_call", call(2_000));
            show("wouldblock_retry", retry(200));
        }
        Err(e) => show("wouldblock_call", Err(e)),
    }
    let _ = set_notify(slots::SELF, 0, 0);
}

/// A non-blocking CALL to a held echo, `n` times (the first registers the request).
fn call(n: u64) -> Result<PerOp, Error> {
    hold()?;
    let first = try_call();
    let r = per_op(n, &mut || {
        let _ = try_call();
    });
    release()?;
    wait_notified()?;
    match first? {
        Attempt::WouldBlock { .. } => Ok(r),
        Attempt::Done(_) => Err(Error::BadState),
    }
}

/// `n` round trips: WouldBlock, release, notification, retry.
fn retry(n: u64) -> Result<PerOp, Error> {
    let mut total = 0;
    for _ in 0..n {
        hold()?;
        let start = tsc::now();
        if let Attempt::Done(_) = try_call()? {
            return Err(Error::BadState);
        }
        release()?;
        wait_notified()?;
        if let Attempt::WouldBlock { .. } = try_call()? {
            return Err(Error::BadState);
        }
        total += tsc::now().wrapping_sub(start);
    }
    Ok(from_total(total, n))
}
