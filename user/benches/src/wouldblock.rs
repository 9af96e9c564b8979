//! Non-blocking invocations (seed 000, section 8) and the stall they replace:
//! - `wouldblock_call`: a non-blocking CALL to a busy echo that gets `WouldBlock` (its request
//!   registered already: the retry loop's case), to set beside `null_invocation`;
//! - `wouldblock_retry`: the hand-off of a busy echo to a caller that does not stall: the
//!   non-blocking CALL gets `WouldBlock`, the caller waits, echo is released and waits again,
//!   the notification's POST is received, and the retried CALL gets echo's reply;
//! - `stalled_call`: the same hand-off by a plain CALL: it stalls on the busy echo, echo is
//!   released and waits again, and the stalled CALL restarts and gets echo's reply.
//!
//! In the two hand-offs echo is held by a releaser ([`Releaser`]) that runs only once the
//! caller waits or stalls, so both time the same release.
//!
//! Assumes: echo is waiting when it starts; slots 40, 41 ([`crate::hold`]) and 52..=56 are
//! free. Leaves no notification endpoint set and this process free to run on any CPU.

use crate::hold;
use crate::measure::{from_total, per_op, PerOp};
use tessera_suite::helpers::Helper;
use tessera_suite::spawn::{spawn, Spawned};
use tessera_user::abi::message::InvocationKind;
use tessera_user::abi::order::process::ANY_CPU;
use tessera_user::abi::post::NOTIFIED;
use tessera_user::abi::Error;
use tessera_user::nonblocking::{set_notify, try_invoke, Attempt};
use tessera_user::{caps, echo, invoke, slots, tsc};

/// An endpoint to this process for notifications.
const NOTIFY_EP: u8 = 52;
const NOTIFY_BADGE: u64 = 0xb2;
const WORD: u64 = 0x77;
/// The releaser's three slots.
const RELEASER: u8 = 53;
/// An endpoint to the releaser, sent to echo with HOLD.
const TO_RELEASER: u8 = 56;

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

/// Prints `wouldblock_call`, `wouldblock_retry` and `stalled_call`.
pub fn run(show: fn(&str, Result<PerOp, Error>)) {
    match set_up() {
        Ok(()) => {
            show("wouldblock_call", call(2_000));
            match Releaser::new() {
                Ok(releaser) => {
                    show("wouldblock_retry", retry(&releaser, 200));
                    show("stalled_call", stalled(&releaser, 200));
                }
                Err(e) => show("wouldblock_retry", Err(e)),
            }
        }
        Err(e) => show("wouldblock_call", Err(e)),
    }
    let _ = set_notify(slots::SELF, 0, 0);
}

/// `wouldblock_call` alone, `n` times, with its notification endpoint set up and cleared
/// around it (what `cargo xtask profile` runs again).
pub fn call_alone(n: u64) -> Result<PerOp, Error> {
    let r = set_up().and_then(|()| call(n));
    let _ = set_notify(slots::SELF, 0, 0);
    r
}

/// The hold endpoint, and this process's notification endpoint set.
fn set_up() -> Result<(), Error> {
    hold::endpoint()?;
    caps::make_endpoint(slots::SELF, NOTIFY_BADGE, NOTIFY_EP)?;
    set_notify(slots::SELF, NOTIFY_EP, WORD)
}

/// A non-blocking CALL to a held echo, `n` times (the first registers the request).
fn call(n: u64) -> Result<PerOp, Error> {
    hold::hold()?;
    let first = try_call();
    let r = per_op(n, &mut || {
        let _ = try_call();
    });
    hold::release()?;
    wait_notified()?;
    match first? {
        Attempt::WouldBlock { .. } => Ok(r),
        Attempt::Done(_) => Err(Error::BadState),
    }
}

/// A helper that answers every CALL at once (`Helper::PairServer`), pinned with this process
/// to this process's CPU, one priority below it: echo, sent HOLD with [`TO_RELEASER`], CALLs
/// it and waits, and it answers (releasing echo) only when this process waits or stalls.
struct Releaser {
    helper: Spawned,
}

impl Releaser {
    fn new() -> Result<Releaser, Error> {
        let me = caps::info(slots::SELF)?;
        let cpu = me.cpu.ok_or(Error::BadState)?;
        let below = u64::from(me.priority)
            .checked_sub(1)
            .ok_or(Error::BadState)?;
        let helper = spawn(RELEASER, Helper::PairServer, 0, below, 0)?;
        caps::set_affinity(helper.process(), u64::from(cpu))?;
        caps::make_endpoint(helper.process(), 0, TO_RELEASER)?;
        let releaser = Releaser { helper };
        caps::set_affinity(slots::SELF, u64::from(cpu))?;
        caps::resume(releaser.helper.process())?;
        Ok(releaser)
    }

    /// Makes echo busy until this process next waits or stalls.
    fn hold_echo(&self) -> Result<(), Error> {
        invoke::send(slots::ECHO, echo::HOLD, &[], &[TO_RELEASER]).map(|_| ())
    }
}

impl Drop for Releaser {
    fn drop(&mut self) {
        let _ = caps::set_affinity(slots::SELF, ANY_CPU);
    }
}

/// `n` hand-offs: WouldBlock, the wait, the notification, the retry.
fn retry(releaser: &Releaser, n: u64) -> Result<PerOp, Error> {
    let mut total = 0;
    for _ in 0..n {
        releaser.hold_echo()?;
        let start = tsc::now();
        if let Attempt::Done(_) = try_call()? {
            return Err(Error::BadState);
        }
        wait_notified()?;
        let Attempt::Done(r) = try_call()? else {
            return Err(Error::BadState);
        };
        total += tsc::now().wrapping_sub(start);
        if r.data[0] != 2 {
            return Err(Error::BadState);
        }
    }
    Ok(from_total(total, n))
}

/// `n` hand-offs by a CALL that stalls until echo waits again.
fn stalled(releaser: &Releaser, n: u64) -> Result<PerOp, Error> {
    let mut total = 0;
    for _ in 0..n {
        releaser.hold_echo()?;
        let start = tsc::now();
        let r = invoke::call(slots::ECHO, echo::PLUS_ONE, &[1], &[])?;
        total += tsc::now().wrapping_sub(start);
        if r.data[0] != 2 {
            return Err(Error::BadState);
        }
    }
    Ok(from_total(total, n))
}
