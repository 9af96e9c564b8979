//! The marshal phase: decode the saved invocation registers into a `Msg`.
//!
//! # Guarantees
//! - Total: every register value decodes to a `Msg` or to an ABI error, never a panic.
//! - Reads only the caller (already write-locked by the path); copies the capabilities it
//!   names. A copied capability to a destroyed object stays dead, so no liveness check is
//!   needed here (seed 001, section 6.2).

use tessera_abi::cap::CAP_SPACE_SLOTS;
use tessera_abi::message::{
    CapWord, Invocation, MessageInfo, DATA_WORDS, MESSAGE_CAPS, RESUME_RECV_SLOT,
};
use tessera_abi::{Error, InvocationKind};

use crate::cap::{Cap, ObjId};
use crate::kernel::Kernel;
use crate::platform::Platform;
use crate::run_queue::Priority;

/// A decoded invocation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Msg {
    pub kind: InvocationKind,
    pub order: u32,
    pub data: [u64; DATA_WORDS],
    pub ndata: u8,
    pub caps: [Cap; MESSAGE_CAPS],
    pub ncaps: u8,
    /// Where the caller wants capabilities it receives (in a reply or its next message).
    pub recv: [u8; MESSAGE_CAPS],
    /// The invoked capability.
    pub target: Cap,
    /// The caller's priority ceiling (the kernel's own is the highest).
    pub ceiling: Priority,
    /// The calling process (`None`: the kernel itself, which cannot wait).
    pub caller: Option<ObjId>,
    /// Never stall: `WouldBlock` and a notification request instead (`notify.rs`).
    pub nonblocking: bool,
}

impl Msg {
    /// A message built by the kernel itself (boot, tests): no caller registers involved.
    pub fn kernel(order: u32, data: &[u64], caps: &[Cap]) -> Msg {
        let mut m = Msg {
            kind: InvocationKind::Call,
            order,
            data: [0; DATA_WORDS],
            ndata: data.len().min(DATA_WORDS) as u8,
            caps: [Cap::NULL; MESSAGE_CAPS],
            ncaps: caps.len().min(MESSAGE_CAPS) as u8,
            recv: [0; MESSAGE_CAPS],
            target: Cap::NULL,
            ceiling: Priority::HIGHEST,
            caller: None,
            nonblocking: false,
        };
        for (d, s) in m.data.iter_mut().zip(data) {
            *d = *s;
        }
        for (d, s) in m.caps.iter_mut().zip(caps) {
            *d = *s;
        }
        m
    }
}

impl<P: Platform> Kernel<P> {
    /// Decodes `inv`, reading capabilities from `me`'s capability space; a faulted process's
    /// invocation is its fault's CALL, whatever its registers hold (`keeper.rs`).
    pub(crate) fn marshal(&self, me: ObjId, inv: &Invocation) -> Result<Msg, Error> {
        if let Some(Some(m)) = self.processes.read(me, Self::fault_message) {
            return Ok(Msg {
                caller: Some(me),
                ..m
            });
        }
        let info = MessageInfo::unpack(inv.info).ok_or(Error::BadMessage)?;
        if info.resume {
            return Err(Error::BadMessage);
        }
        let max_caps = match info.kind {
            InvocationKind::Post if info.data_words > 1 => return Err(Error::BadMessage),
            InvocationKind::Post => 0,
            InvocationKind::Call => RESUME_RECV_SLOT as u8,
            InvocationKind::Return | InvocationKind::Send => MESSAGE_CAPS as u8,
        };
        if info.caps > max_caps {
            return Err(Error::BadMessage);
        }
        let words = CapWord::unpack(inv.caps);
        if words.recv.iter().any(|&r| r as usize >= CAP_SPACE_SLOTS) {
            return Err(Error::InvalidCapIndex);
        }
        let looked_up = self.processes.read(me, |p| {
            let target = p.cap(inv.cap).ok_or(Error::InvalidCapIndex)?;
            let mut caps = [Cap::NULL; MESSAGE_CAPS];
            for (i, c) in caps.iter_mut().enumerate().take(info.caps as usize) {
                *c = p.cap(words.send[i] as u64).ok_or(Error::InvalidCapIndex)?;
            }
            Ok((target, caps, p.ceiling))
        });
        let (target, caps, ceiling) = looked_up.ok_or(Error::NullCapability)??;
        let mut data = [0; DATA_WORDS];
        data[..info.data_words as usize].copy_from_slice(&inv.data[..info.data_words as usize]);
        Ok(Msg {
            kind: info.kind,
            order: info.order,
            data,
            ndata: info.data_words,
            caps,
            ncaps: info.caps,
            recv: words.recv,
            target,
            ceiling,
            caller: Some(me),
            nonblocking: info.nonblocking,
        })
    }
}
