//! The system-wide channel name server (seed 000 section 3: "each server daemon has a private
//! message channel ... registered with the system channel name server"): a process that maps
//! channel names to channels, which server chores of any task register and clients of any
//! other task look up, through kernel CALLs to it. The per-task name server of the runtime
//! (`tessera_runtime::name_server`) serves one task's chores over a runtime channel; this one
//! serves every task holding an endpoint to it.
//!
//! A name is up to 16 bytes (two words); an entry is a channel id and one more word (say, the
//! address of the channel's shared ring). Chores call it with `KernelCall`s, so a name server
//! busy with another client suspends the chore, not its VP.
//!
//! Guarantees: a name is registered at most once at a time; at most `ENTRIES` names; every
//! CALL is answered. Assumes: the server process runs `serve` with nothing else to do.

use tessera_runtime::{ChannelId, Ctx, MaySuspend, TaskId};
use tessera_user::abi::message::{InvocationKind, MessageInfo};
use tessera_user::invoke;

use crate::KernelCall;

/// CALL: `d0`, `d1` = the name, `d2` = the channel (`ChannelId::raw`), `d3` = a word.
/// Answers `d0` = `OK`, `TAKEN` or `FULL`.
pub const REGISTER: u32 = 1;
/// CALL: `d0`, `d1` = the name. Answers `d0` = `OK` with `d1` = the channel and `d2` = the
/// word, or `NOT_FOUND`.
pub const LOOKUP: u32 = 2;
/// CALL: `d0`, `d1` = the name. Answers `d0` = `OK` or `NOT_FOUND`.
pub const UNREGISTER: u32 = 3;
/// CALL: the server answers `OK` and returns from `serve`.
pub const STOP: u32 = 4;

pub const OK: u64 = 0;
pub const TAKEN: u64 = 1;
pub const FULL: u64 = 2;
pub const NOT_FOUND: u64 = 3;

/// Names one server holds at once.
pub const ENTRIES: usize = 64;

/// Bytes of a name.
pub const NAME_BYTES: usize = 16;

/// Packs a name of at most `NAME_BYTES` bytes into two words (zero padded).
pub fn pack(name: &str) -> Option<[u64; 2]> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > NAME_BYTES {
        return None;
    }
    let mut buf = [0u8; NAME_BYTES];
    buf[..b.len()].copy_from_slice(b);
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    Some([word(0), word(1)])
}

#[derive(Clone, Copy)]
struct Entry {
    name: [u64; 2],
    channel: u64,
    word: u64,
}

/// The name server's loop: answers CALLs until `STOP`. `received` and `resume` are free
/// slots of the calling process (for the sender's capabilities and the resume capability).
pub fn serve(received: u8, resume: u8) {
    let mut table: [Option<Entry>; ENTRIES] = [None; ENTRIES];
    let mut reply: Option<[u64; 4]> = None;
    loop {
        let (cap, data) = reply.map_or((0, [0; 4]), |d| (resume, d));
        let got = invoke::raw(
            InvocationKind::Return,
            cap,
            0,
            &data,
            &[],
            [received, 0, 0, resume],
        );
        reply = None;
        let Ok(m) = got else { continue };
        if !MessageInfo::unpack(m.info).is_some_and(|i| i.resume) {
            continue;
        }
        let name = [m.data[0], m.data[1]];
        let at = table.iter().position(|e| e.is_some_and(|e| e.name == name));
        let answer = match (m.order(), at) {
            (REGISTER, Some(_)) => [TAKEN, 0, 0, 0],
            (REGISTER, None) => match table.iter().position(Option::is_none) {
                Some(free) => {
                    table[free] = Some(Entry {
                        name,
                        channel: m.data[2],
                        word: m.data[3],
                    });
                    [OK, 0, 0, 0]
                }
                None => [FULL, 0, 0, 0],
            },
            (LOOKUP, Some(i)) => match table[i] {
                Some(e) => [OK, e.channel, e.word, 0],
                None => [NOT_FOUND, 0, 0, 0],
            },
            (UNREGISTER, Some(i)) => {
                table[i] = None;
                [OK, 0, 0, 0]
            }
            (STOP, _) => {
                let _ = invoke::send(resume, 0, &[OK], &[]);
                return;
            }
            _ => [NOT_FOUND, 0, 0, 0],
        };
        reply = Some(answer);
    }
}

/// Why a name server call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Longer than `NAME_BYTES`, or empty.
    BadName,
    Taken,
    Full,
    NotFound,
    /// The CALL itself failed.
    Kernel(tessera_user::abi::Error),
}

fn call<K: MaySuspend>(
    ctx: &mut Ctx<K>,
    server: u8,
    order: u32,
    data: &[u64],
) -> Result<[u64; 4], NameError> {
    let mut call = KernelCall::call(server, order, data);
    let m = ctx.call_nonblocking(&mut call).map_err(NameError::Kernel)?;
    match m.data[0] {
        OK => Ok(m.data),
        TAKEN => Err(NameError::Taken),
        FULL => Err(NameError::Full),
        _ => Err(NameError::NotFound),
    }
}

/// Registers `name` for `channel` (and `word`) with the name server whose endpoint is in the
/// VP's slot `server`.
pub fn register<K: MaySuspend>(
    ctx: &mut Ctx<K>,
    server: u8,
    name: &str,
    channel: ChannelId,
    word: u64,
) -> Result<(), NameError> {
    let [a, b] = pack(name).ok_or(NameError::BadName)?;
    call(ctx, server, REGISTER, &[a, b, channel_raw(channel), word]).map(|_| ())
}

/// The channel (and word) registered for `name`.
pub fn lookup<K: MaySuspend>(
    ctx: &mut Ctx<K>,
    server: u8,
    name: &str,
) -> Result<(ChannelId, u64), NameError> {
    let [a, b] = pack(name).ok_or(NameError::BadName)?;
    let d = call(ctx, server, LOOKUP, &[a, b])?;
    channel_from_raw(d[1])
        .map(|c| (c, d[2]))
        .ok_or(NameError::NotFound)
}

/// Removes `name`.
pub fn unregister<K: MaySuspend>(
    ctx: &mut Ctx<K>,
    server: u8,
    name: &str,
) -> Result<(), NameError> {
    let [a, b] = pack(name).ok_or(NameError::BadName)?;
    call(ctx, server, UNREGISTER, &[a, b]).map(|_| ())
}

/// A channel id as one word: owner task in the high half, index in the low half.
pub fn channel_raw(c: ChannelId) -> u64 {
    u64::from(c.owner.get()) << 32 | u64::from(c.index)
}

pub fn channel_from_raw(raw: u64) -> Option<ChannelId> {
    Some(ChannelId {
        owner: TaskId::new((raw >> 32) as u32)?,
        index: raw as u32,
    })
}
