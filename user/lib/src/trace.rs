//! The kernel trace from user code (`abi::trace`): a program's own events, names for the
//! trace's process lanes, and switching the trace on and off.
//!
//! Every call fails with `BadState` on a kernel built without tracing.

use crate::invoke;
use tessera_abi::order::process::{TRACE_EVENT, TRACE_SWITCH};
use tessera_abi::trace::{NAME_BYTES, USER_NAME};
use tessera_abi::Error;

/// Records user event `code` (1 to 65535; 0 is [`USER_NAME`]) with two arguments, as an event
/// of the process `process` names (usually [`crate::slots::SELF`]).
pub fn event(process: u8, code: u16, a: u64, b: u64) -> Result<(), Error> {
    if u64::from(code) == USER_NAME {
        return Err(Error::InvalidArgument);
    }
    invoke::call(process, TRACE_EVENT, &[u64::from(code), a, b], &[]).map(|_| ())
}

/// Names the process `process` names in the trace (at most 16 bytes of `name` are kept).
pub fn name(process: u8, name: &str) -> Result<(), Error> {
    let mut bytes = [0u8; NAME_BYTES];
    let n = name.len().min(NAME_BYTES);
    bytes[..n].copy_from_slice(&name.as_bytes()[..n]);
    let half = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    invoke::call(process, TRACE_EVENT, &[USER_NAME, half(0), half(1)], &[]).map(|_| ())
}

/// Starts tracing (every CPU's ring emptied), through any process capability with WRITE.
pub fn start(process: u8) -> Result<(), Error> {
    invoke::call(process, TRACE_SWITCH, &[1], &[]).map(|_| ())
}

/// Stops tracing; the kernel writes the rings to its trace port. Returns the events recorded.
pub fn stop(process: u8) -> Result<u64, Error> {
    invoke::call(process, TRACE_SWITCH, &[0], &[]).map(|r| r.data[0])
}
