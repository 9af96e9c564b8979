//! Wake order and ownership with several waiters: helper processes CALL echo while it is
//! held, each queued only after the one before it; echo then serves them in that order (its
//! SEQ numbers), and each reply reaches the helper that called.

use crate::helpers::{Helper, REPORTED};
use crate::spawn::{spawn, Spawned};
use crate::tester::{
    await_state, drain, ensure, hold_echo, release_echo, step, Outcome, ENDPOINT, SCRATCH,
};
use crate::Ctx;
use alloc::format;
use alloc::vec::Vec;
use tessera_user::abi::ProcessState;
use tessera_user::caps;

const CALLERS: u64 = 3;

pub fn fifo_with_several_callers(ctx: &Ctx) -> Outcome {
    crate::ipc::reset()?;
    hold_echo()?;
    let mut helpers: Vec<Spawned> = Vec::new();
    let mut queued = Ok(());
    for id in 0..CALLERS {
        let made = step(
            "spawn a caller",
            spawn(
                SCRATCH + 3 * id as u8,
                Helper::SeqCaller,
                id,
                ctx.priority,
                ENDPOINT,
            ),
        );
        let h = match made {
            Ok(h) => h,
            Err(e) => {
                queued = Err(e);
                break;
            }
        };
        queued = step("resume a caller", caps::resume(h.process()))
            .and_then(|_| await_state(h.process(), |s| s == ProcessState::Stalled).map(|_| ()));
        helpers.push(h);
        if queued.is_err() {
            break;
        }
    }
    release_echo()?;
    queued?;
    for h in &helpers {
        await_state(h.process(), |s| s == ProcessState::Halted)?;
    }
    let mut reports = Vec::new();
    drain(|m| {
        if m.order() == REPORTED {
            reports.push(m.data[0]);
        }
    })?;
    let mut seqs: Vec<(u64, u64)> = reports.iter().map(|r| (r & 0xffff_ffff, r >> 32)).collect();
    seqs.sort_unstable();
    let expected: Vec<(u64, u64)> = (0..CALLERS).map(|i| (i, i)).collect();
    ensure(seqs == expected, || {
        format!("(caller, served as) {seqs:?}, expected {expected:?}")
    })
}
