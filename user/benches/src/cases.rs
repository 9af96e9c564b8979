//! The benchmarked paths, each against a kernel object or echo in another address space.
//!
//! Assumes: echo is waiting for messages whenever a case starts (every case ends with a CALL
//! to it, which returns only once echo has handled everything before it).

use crate::measure::{from_total, per_op, PerOp};
use tessera_suite::helpers::Helper;
use tessera_suite::spawn::spawn;
use tessera_user::abi::message::InvocationKind;
use tessera_user::abi::Error;
use tessera_user::invoke;
use tessera_user::{caps, echo, slots, tsc};

/// An endpoint to the benchmarking process itself, for echo's CALL while held and its PONGs.
const ENDPOINT: u8 = 40;
const BADGE: u64 = 0xbe;
const HOLD_RESUME: u8 = 41;
/// POSTs per held batch: well below the kernel's pool of post activities (64).
const BATCH: u64 = 32;
/// Slots for the yield partner's address space, page and process.
const PARTNER: u8 = 44;

fn settle() -> Result<(), Error> {
    invoke::call(slots::ECHO, echo::RESET, &[], &[]).map(|_| ())
}

/// GET_TYPE on the program's own process: the cheapest invocation there is.
pub fn null_invocation(n: u64) -> PerOp {
    per_op(n, &mut || {
        let _ = caps::get_type(slots::SELF);
    })
}

/// CALL to echo and its RETURN: two address-space switches.
pub fn call_return(n: u64) -> PerOp {
    per_op(n, &mut || {
        let _ = invoke::call(slots::ECHO, echo::PLUS_ONE, &[1], &[]);
    })
}

/// SEND to a waiting echo (includes echo taking it and waiting again).
pub fn send(n: u64) -> Result<PerOp, Error> {
    let r = per_op(n, &mut || {
        let _ = invoke::send(slots::ECHO, echo::COUNT, &[0], &[]);
    });
    settle().map(|_| r)
}

/// POST to a waiting echo.
pub fn post_waiting(n: u64) -> Result<PerOp, Error> {
    let r = per_op(n, &mut || {
        let _ = invoke::post(slots::ECHO, echo::COUNT, 0);
    });
    settle().map(|_| r)
}

fn hold() -> Result<(), Error> {
    invoke::send(slots::ECHO, echo::HOLD, &[], &[ENDPOINT])?;
    loop {
        let m = invoke::raw(
            InvocationKind::Return,
            0,
            0,
            &[],
            &[],
            [0, 0, 0, HOLD_RESUME],
        )?;
        if m.badge == BADGE && m.order() == echo::HELD {
            return Ok(());
        }
    }
}

/// POST to a held echo: the kernel queues a post activity and the sender goes on.
pub fn post_queued(batches: u64) -> Result<PerOp, Error> {
    caps::make_endpoint(slots::SELF, BADGE, ENDPOINT)?;
    let mut total = 0;
    for _ in 0..batches {
        hold()?;
        let start = tsc::now();
        for w in 0..BATCH {
            core::hint::black_box(w);
            let _ = invoke::post(slots::ECHO, echo::COUNT, w);
        }
        total += tsc::now().wrapping_sub(start);
        invoke::send(HOLD_RESUME, 0, &[], &[])?;
        settle()?;
    }
    Ok(from_total(total, batches * BATCH))
}

/// POST ping-pong: this process POSTs PING to echo and waits; echo POSTs PONG back and waits.
/// One round trip is two POSTs to a waiting process and two switches between address spaces.
pub fn ping_pong(n: u64) -> Result<PerOp, Error> {
    caps::make_endpoint(slots::SELF, BADGE, ENDPOINT)?;
    invoke::send(slots::ECHO, echo::SET_PEER, &[], &[ENDPOINT])?;
    settle()?;
    let r = per_op(n, &mut || {
        let _ = invoke::post(slots::ECHO, echo::PING, 0);
        while invoke::wait().is_ok_and(|m| m.badge != BADGE || m.order() != echo::PONG) {}
    });
    Ok(r)
}

/// A context switch by YIELD: this process and a partner at the same priority (a helper
/// process in its own address space that YIELDs forever) pass the CPU back and forth. Each
/// timed YIELD is two switches between address spaces and two YIELDs (ours and the
/// partner's), so the figure is per switch: one YIELD and one switch.
pub fn yield_switch(n: u64) -> Result<PerOp, Error> {
    let priority = caps::info(slots::SELF)?.priority as u64;
    let partner = spawn(PARTNER, Helper::Yielder, 0, priority, 0)?;
    caps::resume(partner.process())?;
    let r = per_op(n, &mut || {
        let _ = caps::yield_now(slots::SELF);
    });
    drop(partner);
    Ok(PerOp {
        tenths: r.tenths / 2,
        iterations: r.iterations * 2,
    })
}
