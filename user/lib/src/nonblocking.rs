//! Invocations that never stall (`abi::message::MessageInfo::NONBLOCKING`, seed 000 section 8):
//! a try, the notification that says when to try again, and a CALL with a timeout built on
//! them and a [`Timer`]: the alarm and the notification post to the same endpoint, and the
//! caller waits in its open wait for whichever comes first.
//!
//! Assumes (as [`Timer`] does): while it waits, the process expects no other message; one that
//! arrives meanwhile is dropped. A notification is "the condition may have cleared": the retry
//! may get `WouldBlock` again, and a notification of an earlier request may arrive late (it is
//! dropped like any stray message by the next wait).

use crate::invoke::{self, Received};
use crate::timer::{Timer, BADGE};
use tessera_abi::message::InvocationKind;
use tessera_abi::post::{ALARM_FIRED, NOTIFIED};
use tessera_abi::{order, Error};

/// What a non-blocking invocation came to.
#[derive(Clone, Copy, Debug)]
pub enum Attempt {
    /// It went through (for CALL: this is the reply).
    Done(Received),
    /// It would have stalled; `registered` says whether it registered a new notification
    /// request (else one of the caller's watches the same thing already, or it has no
    /// notification endpoint).
    WouldBlock {
        /// A new request was registered.
        registered: bool,
    },
}

/// One invocation with the NONBLOCKING flag; other errors are `Err`.
pub fn try_invoke(
    kind: InvocationKind,
    cap: u8,
    order: u32,
    data: &[u64],
    send: &[u8],
    recv: [u8; 4],
) -> Result<Attempt, Error> {
    let (info, d, caps) = invoke::encode(kind, order, data, send, recv);
    let (err, r) = invoke::syscall(u64::from(cap), info.nonblocking().pack(), d, caps);
    match Error::result(err) {
        Ok(()) => Ok(Attempt::Done(r)),
        Err(Error::WouldBlock) => Ok(Attempt::WouldBlock {
            registered: r.data[0] == 1,
        }),
        Err(e) => Err(e),
    }
}

/// The notifications of `process`'s non-blocking invocations go to the endpoint in slot
/// `endpoint` (0: none), carrying `word`.
pub fn set_notify(process: u8, endpoint: u8, word: u64) -> Result<(), Error> {
    invoke::call(process, order::process::SET_NOTIFY, &[word], &[endpoint]).map(|_| ())
}

/// What ended a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woken {
    /// A notification carrying the word waited for.
    Notified,
    /// The timer's alarm carrying the word waited for.
    TimedOut,
}

/// Waits in the open wait for a notification carrying `word` through `timer`'s endpoint, or
/// the timer's alarm carrying `alarm`; other messages are dropped.
pub fn wait_notified(word: u64, alarm: u64) -> Result<Woken, Error> {
    loop {
        let m = invoke::wait()?;
        if m.badge != BADGE {
            continue;
        }
        match m.order() {
            NOTIFIED if m.data[0] == word => return Ok(Woken::Notified),
            ALARM_FIRED if m.data[0] == alarm => return Ok(Woken::TimedOut),
            _ => {}
        }
    }
}

/// A CALL to make: the capability invoked, the order, data words and capabilities sent.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The invoked capability's slot.
    pub cap: u8,
    /// The order code.
    pub order: u32,
    /// The data words.
    pub data: &'a [u64],
    /// The slots of the capabilities sent.
    pub send: &'a [u8],
}

/// Makes `call` unless `deadline` (ns since boot, the clock of `crate::clock`) passes first:
/// `Ok(None)` then. The caller's notifications go to `timer`'s endpoint with `word` from here
/// on (`me` is the caller's own process, with WRITE). A CALL that got through waits for its
/// reply however long that takes: only the wait for the server to be free is bounded.
pub fn call_with_timeout(
    timer: &mut Timer,
    me: u8,
    word: u64,
    call: Call,
    deadline: u64,
) -> Result<Option<Received>, Error> {
    set_notify(me, timer.endpoint(), word)?;
    let mut armed = None;
    loop {
        let tried = try_invoke(
            InvocationKind::Call,
            call.cap,
            call.order,
            call.data,
            call.send,
            [0; 4],
        )?;
        if let Attempt::Done(r) = tried {
            if armed.is_some() {
                timer.cancel()?;
            }
            return Ok(Some(r));
        }
        let alarm = match armed {
            Some(a) => a,
            None => {
                let a = timer.next_word();
                timer.arm(deadline, 0, a)?;
                armed = Some(a);
                a
            }
        };
        if wait_notified(word, alarm)? == Woken::TimedOut {
            return Ok(None);
        }
    }
}
