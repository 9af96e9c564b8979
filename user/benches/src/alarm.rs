//! An alarm's POST after its deadline: the time from the deadline to the moment the armed
//! process has the POST in hand. Ticks are TSC ticks (guest instructions under `-icount
//! shift=0`), measured against the deadline's own TSC reading.
//!
//! Two cases: `post_latency` arms 200 µs ahead and waits, so its CPU idles with its timer
//! programmed for the deadline (under `-icount` an idle CPU's virtual time follows the host's
//! clock, so this includes QEMU's host-timer delay); `due_at_exit` arms a deadline that has
//! just passed, so the ARM's own kernel exit posts it: the kernel's path alone.

use crate::measure::{from_total, PerOp};
use tessera_user::abi::clock::ns_to_tsc;
use tessera_user::abi::Error;
use tessera_user::timer::Timer;
use tessera_user::{clock, slots, tsc};

const ALARM: u8 = 48;
const ENDPOINT: u8 = 49;
/// How far ahead each deadline is: more than one kernel entry and exit, less than a tick.
const AHEAD_NS: u64 = 200_000;

/// Mean ticks from an alarm's deadline, 200 µs ahead, to its POST's arrival, over `n` alarms.
pub fn post_latency(n: u64) -> Result<PerOp, Error> {
    latency(n, AHEAD_NS)
}

/// Mean ticks from a deadline that has just passed when the alarm is armed to its POST's
/// arrival, over `n` alarms.
pub fn due_at_exit(n: u64) -> Result<PerOp, Error> {
    latency(n, 0)
}

fn latency(n: u64, ahead: u64) -> Result<PerOp, Error> {
    let hz = clock::tsc_hz();
    if hz == 0 {
        return Err(Error::BadState);
    }
    let t = Timer::new(slots::BANK, slots::SELF, ALARM, ENDPOINT)?;
    let mut total = 0;
    for word in 1..=n {
        let deadline = clock::now_ns() + ahead;
        t.arm(deadline, 0, word)?;
        t.wait_for(word)?;
        let arrived = tsc::now();
        total += arrived.saturating_sub(ns_to_tsc(deadline, hz));
    }
    Ok(from_total(total, n))
}
