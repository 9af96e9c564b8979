//! Holding echo busy for the benchmarks that need a busy server: echo, sent HOLD, CALLs back
//! through the endpoint sent with it and waits for the answer, so CALLs to it stall (or get
//! `WouldBlock`) and POSTs to it queue until it is released.
//!
//! Assumes: slots [`ENDPOINT`] and [`RESUME`] are this module's; [`endpoint`] ran before
//! [`hold`].

use tessera_user::abi::message::InvocationKind;
use tessera_user::abi::Error;
use tessera_user::{caps, echo, invoke, slots};

/// An endpoint to the benchmarking process itself with [`BADGE`]: echo's CALL while held
/// comes through it (and, in the ping-pong, echo's PONGs).
pub const ENDPOINT: u8 = 40;
/// The badge on [`ENDPOINT`].
pub const BADGE: u64 = 0xbe;
/// Where echo's resume capability lands while echo is held.
const RESUME: u8 = 41;

/// Makes [`ENDPOINT`].
pub fn endpoint() -> Result<(), Error> {
    caps::make_endpoint(slots::SELF, BADGE, ENDPOINT)
}

/// Sends echo HOLD and takes its CALL; echo waits for [`release`].
pub fn hold() -> Result<(), Error> {
    invoke::send(slots::ECHO, echo::HOLD, &[], &[ENDPOINT])?;
    loop {
        let m = invoke::raw(InvocationKind::Return, 0, 0, &[], &[], [0, 0, 0, RESUME])?;
        if m.badge == BADGE && m.order() == echo::HELD {
            return Ok(());
        }
    }
}

/// Answers echo's CALL through SEND, so this process goes on while echo waits again.
pub fn release() -> Result<(), Error> {
    invoke::send(RESUME, 0, &[], &[]).map(|_| ())
}
