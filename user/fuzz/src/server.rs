//! Servers and the receiver: processes that only wait and answer, so the workers' CALLs and
//! SENDs to them always end.
//!
//! A server answers a CALL through its resume capability most of the time; sometimes first
//! through the previous caller's (stale) one, sometimes by SEND and then a RETURN through the
//! spent capability, sometimes not at all (the controller then halts and resumes the caller).
//! Between messages it makes random invocations that cannot wait. The receiver checks the
//! sequence-numbered POSTs: from each worker, each number exactly once and in order.

use crate::layout::*;
use crate::random::{self, Scope};
use crate::rng::Rng;
use crate::shared::{Failure, MAX_CLIENTS, SHARED};
use core::sync::atomic::Ordering::Relaxed;
use tessera_user::abi::message::{InvocationKind, MessageInfo};
use tessera_user::invoke::{self, Received};

/// The entry of a server process: `arg` = index | seed << 32.
pub extern "C" fn main(arg: u64) -> ! {
    let mut rng = Rng::new((arg >> 32) as u32, 0x200 + (arg & 0xff));
    let scope = Scope {
        live_endpoints: (0, 0),
        use_endpoints: false,
        worker: None,
    };
    let (mut resume, mut stale) = (RESUME_A, RESUME_B);
    let mut reply_through = 0u8;
    // Its scratch slots hold whatever callers sent, endpoints to victims among them.
    let mut taint = random::Taint(u64::MAX << SCRATCH);
    loop {
        let mut recv = [0u8; 4];
        for r in recv.iter_mut().take(3) {
            *r = SCRATCH + rng.below(64 - SCRATCH as u64) as u8;
        }
        recv[3] = resume;
        let n = rng.below(5) as usize;
        let data = [
            rng.next(),
            random::word(&mut rng),
            rng.next(),
            random::word(&mut rng),
        ];
        let ncaps = if reply_through == 0 {
            0
        } else {
            rng.below(4) as usize
        };
        let mut send = [0u8; 4];
        for s in send.iter_mut().take(ncaps) {
            *s = random::transferable(&mut rng);
        }
        SHARED.serve(1);
        let m = invoke::raw(
            InvocationKind::Return,
            reply_through,
            rng.next() as u32 & 0xff,
            &data[..n],
            &send[..ncaps],
            recv,
        );
        reply_through = 0;
        let Ok(m) = m else { continue };
        for _ in 0..rng.below(3) {
            let _ = random::invocation(&mut rng, scope, &mut taint);
        }
        if !has_resume(&m) {
            continue;
        }
        match rng.below(100) {
            0..=79 => reply_through = resume,
            80..=87 => {
                SHARED.serve(1);
                let _ = invoke::send(stale, 0, &[], &[]);
                reply_through = resume;
            }
            88..=95 => {
                SHARED.serve(1);
                let _ = invoke::send(resume, 0, &[rng.next()], &[]);
                reply_through = resume;
            }
            _ => {}
        }
        // The next caller's resume capability arrives in the other slot; this one's stays
        // behind, spent or (if it was not answered) live, for a later stale reply.
        core::mem::swap(&mut resume, &mut stale);
    }
}

fn has_resume(m: &Received) -> bool {
    MessageInfo::unpack(m.info).is_some_and(|i| i.resume)
}

/// The entry of the receiver: every message is taken; a CALL is answered.
pub extern "C" fn receiver(_arg: u64) -> ! {
    let mut reply_through = 0u8;
    loop {
        SHARED.serve(1);
        let m = invoke::raw(
            InvocationKind::Return,
            reply_through,
            0,
            &[],
            &[],
            [0, 0, 0, RESUME_A],
        );
        reply_through = 0;
        let Ok(m) = m else { continue };
        let Some(info) = MessageInfo::unpack(m.info) else {
            continue;
        };
        if info.resume {
            reply_through = RESUME_A;
        }
        if info.kind != InvocationKind::Post || info.order != SEQ {
            continue;
        }
        let sender = m.badge as usize;
        if sender >= MAX_CLIENTS {
            SHARED.fail(Failure::PostOrder, m.badge << 32);
            continue;
        }
        let expected = SHARED.received[sender].load(Relaxed);
        let got = m.data[0];
        if got != expected {
            SHARED.fail(
                Failure::PostOrder,
                (sender as u64) << 56 | (expected & 0xff_ffff) << 28 | (got & 0xfff_ffff),
            );
        }
        SHARED.received[sender].store(got.wrapping_add(1), Relaxed);
    }
}
