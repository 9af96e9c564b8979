//! A channel name server (seed 000 section 3.3: "each server daemon has a private message
//! channel ... registered with the system channel name server"): a chore serving requests on a
//! channel of its own, holding a table of names to channels. Server chores register their
//! channel under a name; clients look names up. Requests are messages; the answer comes back
//! through a full/empty cell the client waits on (the task's address space is shared, so a
//! message can carry the cell's and the channel handle's addresses).
//!
//! Guarantees: a name maps to at most one channel (a second registration is refused); a
//! lookup answers the channel registered at the time the server took the request.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use crate::channel::{channel, Full, Message, Receiver, Sender, Suspend};
use crate::ctx::Ctx;
use crate::fe::FeWord;
use crate::id::ChannelId;
use crate::kind::{MaySuspend, Ordinary};
use crate::runtime::{JoinHandle, SpawnError};

/// Longest name, in bytes.
pub const NAME_BYTES: usize = 24;

const REGISTER: u32 = 1;
const LOOKUP: u32 = 2;
const STOP: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    TooLong,
    Taken,
    /// The server's request channel is full.
    Busy,
}

/// A client's handle on the name server.
#[derive(Clone)]
pub struct Names {
    requests: Sender,
}

impl core::fmt::Debug for Names {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Names({:?})", self.requests.id())
    }
}

fn pack(name: &str) -> Result<[u64; 3], NameError> {
    let bytes = name.as_bytes();
    if bytes.len() > NAME_BYTES {
        return Err(NameError::TooLong);
    }
    let mut padded = [0u8; NAME_BYTES];
    padded[..bytes.len()].copy_from_slice(bytes);
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&padded[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    Ok([word(0), word(1), word(2)])
}

/// Starts the name server chore with request channel `id`; returns the client handle and the
/// server's handle (it returns how many names it held when stopped).
pub fn name_server<K: MaySuspend>(
    ctx: &Ctx<K>,
    id: ChannelId,
) -> Result<(Names, JoinHandle<usize>), SpawnError> {
    let (tx, rx) = channel(id, 16);
    let server = ctx.spawn(move |c| serve(c, rx))?;
    Ok((Names { requests: tx }, server))
}

fn serve(ctx: &mut Ctx<Ordinary>, rx: Receiver) -> usize {
    let mut table: BTreeMap<[u64; 3], Sender> = BTreeMap::new();
    loop {
        let m = rx.recv(ctx, Suspend);
        let name = [m.data[0], m.data[1], m.data[2]];
        // SAFETY: clients put the address of their answer cell in word 3 and keep the cell
        // alive until it is written (they wait on it).
        let answer = unsafe { &*(m.data[3] as *const FeWord) };
        match m.header.tag {
            REGISTER => {
                // SAFETY: the client boxed the sender and gave up the box (`register`).
                let sender = unsafe { Box::from_raw(m.data[4] as *mut Sender) };
                let fresh = !table.contains_key(&name);
                if fresh {
                    table.insert(name, *sender);
                }
                answer.write_f(u64::from(fresh));
            }
            LOOKUP => {
                let found = table
                    .get(&name)
                    .map_or(0, |s| Box::into_raw(Box::new(s.clone())) as u64);
                answer.write_f(found);
            }
            _ => {
                answer.write_f(1);
                return table.len();
            }
        }
    }
}

impl Names {
    fn ask<K: MaySuspend>(
        &self,
        ctx: &mut Ctx<K>,
        tag: u32,
        name: [u64; 3],
        extra: u64,
    ) -> Result<u64, NameError> {
        let answer = Arc::new(FeWord::empty_cell());
        let m = Message::new(
            ctx.id(),
            tag,
            [
                name[0],
                name[1],
                name[2],
                Arc::as_ptr(&answer) as u64,
                extra,
                0,
            ],
        );
        self.requests.send(m).map_err(|Full(_)| NameError::Busy)?;
        Ok(answer.read_fe(ctx))
    }

    /// Registers `channel` under `name`.
    pub fn register<K: MaySuspend>(
        &self,
        ctx: &mut Ctx<K>,
        name: &str,
        channel: Sender,
    ) -> Result<(), NameError> {
        let name = pack(name)?;
        let boxed = Box::into_raw(Box::new(channel));
        match self.ask(ctx, REGISTER, name, boxed as u64) {
            Ok(1) => Ok(()),
            Ok(_) => Err(NameError::Taken),
            Err(e) => {
                // SAFETY: the request was not sent, so the box is still ours.
                drop(unsafe { Box::from_raw(boxed) });
                Err(e)
            }
        }
    }

    /// The channel registered under `name`, if any.
    pub fn lookup<K: MaySuspend>(
        &self,
        ctx: &mut Ctx<K>,
        name: &str,
    ) -> Result<Option<Sender>, NameError> {
        let word = self.ask(ctx, LOOKUP, pack(name)?, 0)?;
        // SAFETY: a non-zero answer is a boxed sender the server gave up for us.
        Ok((word != 0).then(|| *unsafe { Box::from_raw(word as *mut Sender) }))
    }

    /// Stops the server (its handle's join returns the count of names it held).
    pub fn stop<K: MaySuspend>(&self, ctx: &mut Ctx<K>) -> Result<(), NameError> {
        self.ask(ctx, STOP, [0; 3], 0).map(|_| ())
    }
}
