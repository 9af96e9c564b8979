//! Sleeping on an alarm (`abi::order::alarm`): a [`Timer`] owns an alarm and an endpoint to
//! its own process, arms the alarm and waits in its open wait for the alarm's POST.
//!
//! Assumes: while a timer sleeps, its process expects no other message; one that arrives
//! meanwhile is dropped (a resume capability with it dies unanswered). A CALL with a timeout
//! is built on a timer and a non-blocking CALL (`nonblocking::call_with_timeout`): a CALL's
//! closed wait takes only its reply, so an alarm cannot end it.

use crate::invoke::{self, call};
use crate::{caps, clock};
use tessera_abi::order::alarm;
use tessera_abi::post::ALARM_FIRED;
use tessera_abi::{CapType, Error};

/// The badge of a timer's endpoint: a message with it and order `ALARM_FIRED` is its alarm.
pub const BADGE: u64 = 0x7133_a1a7;

/// An alarm armed to wake its own process.
pub struct Timer {
    alarm: u8,
    endpoint: u8,
    bank: u8,
    seq: u64,
}

impl Timer {
    /// Creates an alarm from `bank` in slot `alarm` and an endpoint to `me` (the caller's own
    /// process) in slot `endpoint`. The alarm goes back to `bank` when the timer is dropped.
    pub fn new(bank: u8, me: u8, alarm: u8, endpoint: u8) -> Result<Timer, Error> {
        caps::create(bank, CapType::Alarm, alarm)?;
        let t = Timer {
            alarm,
            endpoint,
            bank,
            seq: 0,
        };
        caps::make_endpoint(me, BADGE, endpoint)?;
        Ok(t)
    }

    /// Arms the alarm to POST `word` at `deadline` (ns since boot), every `period` ns after
    /// if `period` is not 0.
    pub fn arm(&self, deadline: u64, period: u64, word: u64) -> Result<(), Error> {
        call(
            self.alarm,
            alarm::ARM,
            &[deadline, period, word],
            &[self.endpoint],
        )
        .map(|_| ())
    }

    /// The slot of the endpoint to its own process the alarm posts to (notifications of
    /// non-blocking invocations may be aimed there too: `nonblocking`).
    pub fn endpoint(&self) -> u8 {
        self.endpoint
    }

    /// A word no earlier arming of this timer used.
    pub fn next_word(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Disarms the alarm; whether it was armed.
    pub fn cancel(&self) -> Result<bool, Error> {
        call(self.alarm, alarm::CANCEL, &[], &[]).map(|r| r.data[0] == 1)
    }

    /// Waits until the clock reads at least `deadline` (ns since boot); returns the clock
    /// then. Never returns early: the kernel POSTs only once the deadline has passed.
    pub fn sleep_until(&mut self, deadline: u64) -> Result<u64, Error> {
        let word = self.next_word();
        self.arm(deadline, 0, word)?;
        self.wait_for(word)?;
        Ok(clock::now_ns())
    }

    /// Waits at least `ns` nanoseconds; returns the clock then.
    pub fn sleep_for(&mut self, ns: u64) -> Result<u64, Error> {
        self.sleep_until(clock::now_ns().saturating_add(ns))
    }

    /// Waits for the alarm's POST carrying `word` (a periodic alarm's next one, say).
    pub fn wait_for(&self, word: u64) -> Result<(), Error> {
        loop {
            let m = invoke::wait()?;
            if m.badge == BADGE && m.order() == ALARM_FIRED && m.data[0] == word {
                return Ok(());
            }
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // Destroying the alarm disarms it; the endpoint is only a capability.
        let _ = caps::destroy(self.bank, self.alarm);
    }
}
