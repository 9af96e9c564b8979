//! One random invocation: a random capability index, kind, order code, message words, data
//! words, capabilities sent and receive slots, filtered only where the fuzzer itself would
//! otherwise hang or lose track (see `layout`): an endpoint it does not know might never take a
//! message, so it is only asked its type; an open wait is ended by a POST to itself.

use crate::layout::*;
use crate::rng::Rng;
use crate::shared::SHARED;
use tessera_user::abi::message::{CapWord, InvocationKind, MessageInfo};
use tessera_user::abi::{order, CapType};
use tessera_user::invoke::{self, Received};

/// What a random invocation may aim at.
#[derive(Clone, Copy)]
pub struct Scope {
    /// Endpoints in slots `live_endpoints.0..live_endpoints.1` always take messages (the
    /// receiver, the servers).
    pub live_endpoints: (u8, u8),
    /// May it CALL, SEND or POST through endpoints at all (servers may not: two servers
    /// calling each other would wait for ever).
    pub use_endpoints: bool,
    /// The worker's index, to record its phase (`Shared::phase`); servers have none.
    pub worker: Option<usize>,
}

/// Records what worker `scope.worker` is doing: `step` (1 the invocation, 2 waiting for its
/// nudge, 4 asking the type, 5 posting its nudge) over the invoked index, kind and the type of
/// its capability.
fn phase(scope: Scope, step: u64, detail: u64) {
    if let Some(w) = scope.worker {
        SHARED.phase[w].store(step << 56 | detail, core::sync::atomic::Ordering::Relaxed);
    }
}

/// A capability index for the target of a random invocation.
fn target(rng: &mut Rng) -> u64 {
    match rng.below(20) {
        0 => rng.next(),
        1 => 64 + rng.below(200),
        _ => loop {
            let slot = rng.below(64) as u8;
            if slot != SELF && slot != TRACKED_BANK && slot != SELF_ENDPOINT {
                return slot as u64;
            }
        },
    }
}

/// A slot whose capability may be sent: never [`SELF`], a tracked object or the tracked bank.
pub fn transferable(rng: &mut Rng) -> u8 {
    match rng.below(8) {
        0 => 0,
        1 => RANDOM_BANK,
        2 => RECEIVER,
        3 => SERVERS + rng.below(MAX_SERVERS as u64) as u8,
        4 => 64 + rng.below(192) as u8,
        _ => SCRATCH + rng.below(64 - SCRATCH as u64) as u8,
    }
}

/// A data word: small numbers, slot-like, type codes, page numbers, rights, or anything.
pub fn word(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0 => rng.below(4),
        1 => rng.below(70),
        2 => rng.below(11),
        3 => 0x1000 + rng.below(64),
        4 => rng.below(1 << 35),
        5 => rng.below(8),
        6 => rng.below(600),
        _ => rng.next(),
    }
}

/// An order code: mostly ones objects answer, sometimes any (never the checked [`SEQ`]).
fn order_code(rng: &mut Rng) -> u32 {
    let o = if rng.chance(80) {
        rng.below(12) as u32
    } else {
        rng.next() as u32
    };
    if o == SEQ || o == NUDGE {
        0
    } else {
        o
    }
}

/// Counts one invocation: a worker's towards the campaign, a server's apart.
fn count(scope: Scope) {
    if scope.worker.is_some() {
        SHARED.count(1);
    } else {
        SHARED.serve(1);
    }
}

/// The type of the capability at `cap`, if it is a slot (one counted invocation).
fn type_of(cap: u64, scope: Scope) -> Option<CapType> {
    if cap >= 64 {
        return None;
    }
    count(scope);
    match invoke::call(cap as u8, order::GET_TYPE, &[], &[]) {
        Ok(r) => CapType::from_raw(r.data[0]),
        // A Null capability (or one to a destroyed object, which acts as Null) answers nothing.
        Err(tessera_user::abi::Error::NullCapability) => Some(CapType::Null),
        Err(_) => None,
    }
}

/// Slots that may hold an endpoint to a process that never takes messages (a victim): only
/// orders that can hand out capabilities from elsewhere put one there. Even GET_TYPE through
/// such an endpoint is a CALL to that process, so a tainted slot is only RETURNed through
/// (which fails at once unless it is Null or a resume capability, and then the nudge ends it).
pub struct Taint(pub u64);

impl Taint {
    fn has(&self, cap: u64) -> bool {
        cap < 64 && self.0 & (1 << cap) != 0
    }
}

/// Whether an invocation of `order` on a `ty` capability may hand out capabilities it did not
/// make (endpoints among them).
fn hands_out_others(ty: Option<CapType>, order: u32) -> bool {
    match ty {
        Some(CapType::Process) => {
            order == order::process::GET_CAP || order == order::process::MAKE_ENDPOINT
        }
        Some(CapType::CapPage) => order == order::cap_page::LOAD,
        Some(CapType::Endpoint | CapType::Resume | CapType::Null) | None => true,
        Some(_) => false,
    }
}

/// Makes one random invocation (and the GET_TYPE before it).
pub fn invocation(
    rng: &mut Rng,
    scope: Scope,
    taint: &mut Taint,
) -> Result<Received, tessera_user::abi::Error> {
    let cap = target(rng);
    let tainted = taint.has(cap);
    if tainted && !scope.use_endpoints {
        return Err(tessera_user::abi::Error::BadState);
    }
    phase(scope, 4, cap & 0xff);
    let ty = if tainted { None } else { type_of(cap, scope) };
    let mut kind = match rng.below(4) {
        0 => InvocationKind::Call,
        1 => InvocationKind::Return,
        2 => InvocationKind::Send,
        _ => InvocationKind::Post,
    };
    let mut ord = order_code(rng);
    let n = rng.below(5) as usize;
    let mut data = [0u64; 4];
    for d in data.iter_mut().take(n) {
        *d = word(rng);
    }
    let ncaps = rng.below(4) as usize;
    let mut send = [0u8; 4];
    for s in send.iter_mut().take(ncaps) {
        *s = transferable(rng);
    }
    let mut recv = [0u8; 4];
    for r in recv.iter_mut() {
        *r = if rng.chance(10) {
            0
        } else {
            SCRATCH + rng.below(64 - SCRATCH as u64) as u8
        };
    }
    let slot = cap as u8;
    match ty {
        Some(CapType::Endpoint) => {
            let live = scope.use_endpoints
                && (scope.live_endpoints.0..scope.live_endpoints.1).contains(&slot);
            if !live {
                return Err(tessera_user::abi::Error::BadState);
            }
        }
        Some(CapType::Bank) if TRACKED.contains(&slot) => {
            // A tracked sub-bank: creating from it at random would leave objects nobody tracks.
            ord = if rng.chance(50) {
                order::GET_TYPE
            } else {
                order::bank::AVAILABLE
            };
        }
        // Victims stay below the workers (there is no priority ceiling yet), so a spinning
        // one cannot starve them; priorities from 32 up stay, to be refused.
        Some(CapType::Process) if ord == order::process::SET_PRIORITY && data[0] < 32 => {
            data[0] %= PRIORITY;
        }
        _ => {}
    }
    if tainted {
        kind = InvocationKind::Return;
    }
    let open_wait = kind == InvocationKind::Return
        && (tainted || matches!(ty, Some(CapType::Null | CapType::Resume)));
    if open_wait && !scope.use_endpoints {
        kind = InvocationKind::Send;
    }
    let malformed = rng.chance(3);
    let info = if malformed {
        rng.next() & !0x3 | kind as u64
    } else {
        // A quarter ask never to stall: they may get WouldBlock, and their notifications
        // arrive in this worker's waits, which drop them.
        let info = MessageInfo::new(kind, ord, n as u8, ncaps as u8);
        if rng.chance(25) {
            info.nonblocking()
        } else {
            info
        }
        .pack()
    };
    if open_wait && scope.use_endpoints {
        // Ends the wait below: queued until this worker next waits.
        phase(scope, 5, cap & 0xff);
        count(scope);
        let _ = invoke::post(SELF_ENDPOINT, NUDGE, 0);
    }
    count(scope);
    let caps = CapWord { send, recv }.pack();
    let detail = (cap & 0xff)
        | (kind as u64) << 8
        | ty.map_or(0xff, |t| t as u64) << 16
        | (info & 0xffff_ffff) << 24;
    phase(scope, 1, detail);
    let r = invoke::registers(cap, info, data, caps);
    if hands_out_others(ty, ord) || malformed || open_wait {
        for slot in recv.iter().filter(|&&s| s != 0) {
            taint.0 |= 1 << slot;
        }
    } else if r.is_ok() && ty == Some(CapType::Bank) && ord == order::bank::CREATE && recv[0] != 0 {
        taint.0 &= !(1 << recv[0]);
    }
    if open_wait && scope.use_endpoints {
        phase(
            scope,
            2,
            detail | r.as_ref().map_or_else(|e| e.raw(), |m| m.info >> 32 | 0x80) << 48,
        );
        drain_until_nudge(r);
    }
    phase(scope, 0, 0);
    r
}

/// Receives until this worker's own nudge arrives (a malformed RETURN may have failed at once,
/// leaving the nudge queued: it is then taken here).
pub fn drain_until_nudge(first: Result<Received, tessera_user::abi::Error>) {
    if let Ok(m) = first {
        if m.order() == NUDGE
            && MessageInfo::unpack(m.info).is_some_and(|i| i.kind == InvocationKind::Post)
        {
            return;
        }
    }
    loop {
        SHARED.count(1);
        match invoke::wait() {
            Ok(m) if m.order() == NUDGE => return,
            _ => {}
        }
    }
}
