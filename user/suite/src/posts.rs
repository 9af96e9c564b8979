//! POSTs queued while the receiver is busy (held) or slow: each delivered exactly once, in
//! the order sent, and before a CALL made after them.

use crate::ipc::{reset, stats};
use crate::tester::{ensure, hold_echo, release_echo, step, Outcome};
use alloc::format;
use tessera_user::{echo, invoke, slots};

/// More than fit in any single burst the receiver could take at once, fewer than a sender's
/// allotment of post activities (32), so the sender never stalls: it alone could release echo.
const POSTS: u64 = 24;

fn post_burst() -> Outcome {
    for w in 0..POSTS {
        step("POST to echo", invoke::post(slots::ECHO, echo::COUNT, w))?;
    }
    Ok(())
}

fn check_burst() -> Outcome {
    let s = stats()?;
    ensure(s.0 == POSTS && s.2 == 0, || {
        format!(
            "{POSTS} posts sent; echo saw {} ({} out of order)",
            s.0, s.2
        )
    })
}

pub fn queued_while_busy() -> Outcome {
    reset()?;
    hold_echo()?;
    post_burst()?;
    release_echo()?;
    check_burst()
}

pub fn queued_with_slow_receiver(tsc_hz: u64) -> Outcome {
    reset()?;
    let delay = (tsc_hz / 1000).max(100_000);
    step(
        "slow echo down",
        invoke::call(slots::ECHO, echo::SET_DELAY, &[delay], &[]),
    )?;
    post_burst()?;
    step(
        "speed echo up",
        invoke::call(slots::ECHO, echo::SET_DELAY, &[0], &[]),
    )?;
    check_burst()
}
