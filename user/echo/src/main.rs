//! echo: the server the tests and benchmarks talk to across address spaces
//! (orders in `tessera_user::echo`).
//!
//! Invariants: every message it takes is handled exactly once, in the order the kernel
//! delivers it; a CALL's reply goes through the resume capability that came with it, and
//! nothing else is ever replied to.
#![no_std]
#![forbid(unsafe_code)]
#![no_main]

use tessera_user::abi::message::{InvocationKind, MessageInfo};
use tessera_user::abi::Rights;
use tessera_user::echo::*;
use tessera_user::invoke::{self, Received};
use tessera_user::{caps, entry, slots, tsc};

entry!(main);

/// Where a capability sent with HOLD or SET_PEER lands.
const RECEIVED: u8 = slots::FREE;
/// Where the ping peer is kept.
const PEER: u8 = slots::FREE + 1;
/// Where a CALL's resume capability lands.
const RESUME: u8 = slots::FREE + 2;

#[derive(Default)]
struct Echo {
    posts: u64,
    sends: u64,
    out_of_order: u64,
    calls: u64,
    /// The seq expected next on each stream of COUNT POSTs.
    next: [u64; STREAMS as usize],
    seq: u64,
    delay: u64,
}

impl Echo {
    /// Handles one message; returns the reply's data words.
    fn handle(&mut self, m: &Received, kind: InvocationKind) -> [u64; 4] {
        match kind {
            InvocationKind::Post => self.posts += 1,
            InvocationKind::Send => self.sends += 1,
            _ => self.calls += 1,
        }
        let d = m.data;
        match m.order() {
            PLUS_ONE => d.map(|w| w.wrapping_add(1)),
            COUNT if kind == InvocationKind::Post => {
                let (stream, seq) = ((d[0] >> 32) as usize, d[0] & 0xffff_ffff);
                match self.next.get_mut(stream) {
                    Some(next) => {
                        if seq != *next {
                            self.out_of_order += 1;
                        }
                        *next = seq + 1;
                    }
                    None => self.out_of_order += 1,
                }
                [0; 4]
            }
            NEXT => [self.next.get(d[0] as usize).map_or(0, |n| *n), 0, 0, 0],
            STATS => [self.posts, self.sends, self.out_of_order, self.calls],
            RESET => {
                *self = Echo::default();
                [0; 4]
            }
            HOLD => {
                let _ = invoke::call(RECEIVED, HELD, &[], &[]);
                [0; 4]
            }
            SEQ => {
                self.seq += 1;
                [self.seq - 1, d[0], 0, 0]
            }
            SET_DELAY => {
                self.delay = d[0];
                [0; 4]
            }
            SET_PEER => {
                let _ = caps::set_cap(slots::SELF, PEER, RECEIVED, Rights::ALL);
                [0; 4]
            }
            PING => {
                let _ = invoke::post(PEER, PONG, d[0]);
                [0; 4]
            }
            _ => [0; 4],
        }
    }
}

fn spin(ticks: u64) {
    let start = tsc::now();
    while tsc::now().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

fn main(_arg: u64) {
    let mut echo = Echo::default();
    let mut reply = (0u8, [0u64; 4]);
    loop {
        let received = invoke::raw(
            InvocationKind::Return,
            reply.0,
            0,
            &reply.1,
            &[],
            [RECEIVED, 0, 0, RESUME],
        );
        reply = (0, [0; 4]);
        let Ok(m) = received else { continue };
        let Some(info) = MessageInfo::unpack(m.info) else {
            continue;
        };
        spin(echo.delay);
        let data = echo.handle(&m, info.kind);
        if info.resume {
            reply = (RESUME, data);
        }
    }
}
