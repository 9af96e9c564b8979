//! Non-blocking invocations from user mode (seed 000, section 8): a non-blocking CALL to a
//! busy server (echo held in a CALL to the tester) gets `WouldBlock` and then exactly one
//! notification when the server waits again; a POST with the allotment spent likewise when one
//! of its POSTs is taken; a CALL with a timeout ends at its deadline while the server is busy
//! and gets through once it is free.
//!
//! Assumes: each process has [`ALLOTMENT`] post activities; echo is free on entry. Guarantees:
//! echo is released and the notification endpoint cleared on every path; a lost notification
//! fails the test after [`PATIENCE_NS`] instead of hanging it.

use crate::ipc::reset;
use crate::tester::{ensure, hold_echo, release_echo, step, Outcome, SCRATCH};
use alloc::format;
use alloc::string::String;
use tessera_user::abi::message::InvocationKind;
use tessera_user::nonblocking::{self, try_invoke, wait_notified, Attempt, Call, Woken};
use tessera_user::timer::Timer;
use tessera_user::{clock, echo, invoke, slots};

const ALARM: u8 = SCRATCH + 34;
const TIMER_EP: u8 = SCRATCH + 35;
/// Post activities each process has (`kernel/x86_64/src/system`).
const ALLOTMENT: u64 = 32;
/// The word the tester's notifications carry.
const WORD: u64 = 0x5eed;
/// How long a notification may take to come.
const PATIENCE_NS: u64 = 1_000_000_000;
/// How long to watch for a second notification that must not come.
const QUIET_NS: u64 = 20_000_000;

/// Runs `body` with a timer whose endpoint gets the tester's notifications; clears them after.
fn with_timer(body: impl FnOnce(&mut Timer) -> Outcome) -> Outcome {
    let mut t = step(
        "make a timer",
        Timer::new(slots::BANK, slots::SELF, ALARM, TIMER_EP),
    )?;
    step(
        "SET_NOTIFY",
        nonblocking::set_notify(slots::SELF, TIMER_EP, WORD),
    )?;
    let r = body(&mut t);
    step(
        "clear SET_NOTIFY",
        nonblocking::set_notify(slots::SELF, 0, 0),
    )?;
    r
}

/// Waits for one notification (within [`PATIENCE_NS`]), then makes sure no second one comes
/// within [`QUIET_NS`].
fn exactly_one_notification(t: &mut Timer) -> Outcome {
    let give_up = t.next_word();
    step("arm", t.arm(clock::now_ns() + PATIENCE_NS, 0, give_up))?;
    let first = step("wait for the notification", wait_notified(WORD, give_up))?;
    step("cancel", t.cancel())?;
    ensure(first == Woken::Notified, || {
        String::from("no notification within a second")
    })?;
    let quiet = t.next_word();
    step("arm", t.arm(clock::now_ns() + QUIET_NS, 0, quiet))?;
    let second = step(
        "watch for a second notification",
        wait_notified(WORD, quiet),
    )?;
    ensure(second == Woken::TimedOut, || {
        String::from("a second notification for one request")
    })
}

fn call_echo(n: u64) -> Result<Attempt, String> {
    step(
        "non-blocking CALL to echo",
        try_invoke(
            InvocationKind::Call,
            slots::ECHO,
            echo::PLUS_ONE,
            &[n],
            &[],
            [0; 4],
        ),
    )
}

pub fn call_to_busy_server_is_notified_once() -> Outcome {
    with_timer(|t| {
        hold_echo()?;
        let tried = (call_echo(1), call_echo(1));
        release_echo()?;
        match tried {
            (
                Ok(Attempt::WouldBlock { registered: true }),
                Ok(Attempt::WouldBlock { registered: false }),
            ) => {}
            other => return Err(format!("while echo was held: {other:?}")),
        }
        exactly_one_notification(t)?;
        match call_echo(41)? {
            Attempt::Done(r) => ensure(r.data[0] == 42, || format!("echo answered {r:?}")),
            a => Err(format!("the retry after the notification: {a:?}")),
        }
    })
}

fn post_count(seq: u64) -> Result<Attempt, String> {
    step(
        "non-blocking POST to echo",
        try_invoke(
            InvocationKind::Post,
            slots::ECHO,
            echo::COUNT,
            &[seq],
            &[],
            [0; 4],
        ),
    )
}

pub fn post_with_allotment_spent_is_notified_once() -> Outcome {
    reset()?;
    with_timer(|t| {
        hold_echo()?;
        let filled = (0..ALLOTMENT).try_for_each(|seq| {
            step(
                "POST to held echo",
                invoke::post(slots::ECHO, echo::COUNT, seq),
            )
            .map(|_| ())
        });
        let tried = filled.and_then(|()| post_count(ALLOTMENT));
        release_echo()?;
        match tried? {
            Attempt::WouldBlock { registered: true } => {}
            a => return Err(format!("a POST with the allotment spent: {a:?}")),
        }
        exactly_one_notification(t)?;
        match post_count(ALLOTMENT)? {
            Attempt::Done(_) => {}
            a => return Err(format!("the retry after the notification: {a:?}")),
        }
        let next = step(
            "CALL echo NEXT",
            invoke::call(slots::ECHO, echo::NEXT, &[0], &[]),
        )?;
        ensure(next.data[0] == ALLOTMENT + 1, || {
            format!(
                "echo took {} POSTs in order of {}",
                next.data[0],
                ALLOTMENT + 1
            )
        })
    })
}

pub fn call_with_timeout_ends_at_its_deadline() -> Outcome {
    with_timer(|t| {
        hold_echo()?;
        let deadline = clock::now_ns() + 5_000_000;
        let call = Call {
            cap: slots::ECHO,
            order: echo::PLUS_ONE,
            data: &[1],
            send: &[],
        };
        let timed = nonblocking::call_with_timeout(t, slots::SELF, WORD, call, deadline);
        let ended = clock::now_ns();
        release_echo()?;
        match step("CALL with a timeout to held echo", timed)? {
            None => ensure(ended >= deadline, || {
                format!("timed out {} ns early", deadline - ended)
            })?,
            Some(r) => return Err(format!("a CALL to held echo got through: {r:?}")),
        }
        let deadline = clock::now_ns() + PATIENCE_NS;
        let call = Call {
            cap: slots::ECHO,
            order: echo::PLUS_ONE,
            data: &[6],
            send: &[],
        };
        let got = nonblocking::call_with_timeout(t, slots::SELF, WORD, call, deadline);
        match step("CALL with a timeout to free echo", got)? {
            Some(r) => ensure(r.data[0] == 7, || format!("echo answered {r:?}")),
            None => Err(String::from("a CALL to free echo timed out")),
        }
    })
}
