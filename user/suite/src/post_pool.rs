//! POSTs are never dropped when the kernel's pool of post activities runs dry (DESIGN.md
//! "POST", seed 003): helper processes POST echo more than the pool holds while echo is held,
//! until each is stalled on the pool's queue; then echo drains, every sender finishes, and
//! every POST arrived exactly once and in order per sender (echo's `COUNT` streams).
//!
//! Assumes: the kernel's pool holds [`POOL`] activities and nothing else keeps POSTs queued
//! meanwhile; the tester never POSTs while echo is held (it would stall on the pool behind
//! POSTs only it could let echo drain). Guarantees: echo is released on every path, and a
//! lost POST fails the test (counts and streams) rather than hanging it.

use crate::helpers::Helper;
use crate::ipc::{reset, stats};
use crate::spawn::{spawn, Spawned};
use crate::tester::{
    await_state, ensure, hold_echo, release_echo, step, Outcome, ENDPOINT, SCRATCH,
};
use crate::Ctx;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use tessera_user::abi::{ProcessInfo, ProcessState, QueueOwned};
use tessera_user::{caps, echo, invoke, slots};

/// Post activities in the kernel's pool (`kernel/x86_64/src/system`).
const POOL: u64 = 64;
const SENDERS: u64 = 3;
/// More than the pool holds, so each sender stalls whichever runs first.
const PER_SENDER: u64 = POOL + 8;

pub fn never_dropped_when_exhausted(ctx: &Ctx) -> Outcome {
    reset()?;
    hold_echo()?;
    let mut senders: Vec<Spawned> = Vec::new();
    let observe = ctx.priority > 0;
    let stalled = fill(ctx, &mut senders).and_then(|infos| {
        if observe {
            set_priority(&senders, ctx.priority - 1)?;
        }
        Ok(infos)
    });
    release_echo()?;
    let stalled = stalled?;
    if observe {
        stats()?;
        check_owner(&senders, &stalled)?;
        set_priority(&senders, ctx.priority)?;
    }
    for s in &senders {
        await_state(s.process(), ctx.tsc_hz, |st| st == ProcessState::Halted)?;
    }
    check_delivered()
}

fn set_priority(senders: &[Spawned], priority: u64) -> Outcome {
    for s in senders {
        step(
            "set a sender's priority",
            caps::set_priority(s.process(), priority),
        )?;
    }
    Ok(())
}

/// Starts the senders and waits until each is stalled; returns their INFO then.
fn fill(ctx: &Ctx, senders: &mut Vec<Spawned>) -> Result<Vec<ProcessInfo>, String> {
    for id in 0..SENDERS {
        let arg = id << 32 | PER_SENDER;
        let base = SCRATCH + 3 * id as u8;
        let h = step(
            "spawn a sender",
            spawn(base, Helper::Poster, arg, ctx.priority, ENDPOINT),
        )?;
        senders.push(h);
    }
    for s in senders.iter() {
        step("resume a sender", caps::resume(s.process()))?;
    }
    let mut infos = Vec::new();
    for s in senders.iter() {
        infos.push(await_state(s.process(), ctx.tsc_hz, |st| {
            st == ProcessState::Stalled
        })?);
    }
    let accepted: u64 = infos.iter().map(|i| i.invocations).sum();
    ensure(accepted <= POOL, || {
        format!("{accepted} POSTs accepted while echo was held, more than the pool's {POOL}")
    })?;
    ensure(infos.iter().all(|i| i.owns == QueueOwned::None), || {
        format!("a stalled sender owns a queue: {infos:?}")
    })?;
    Ok(infos)
}

/// After echo took every queued POST (so activities were freed) while the senders sit below
/// the tester's priority: a sender that has not posted since it stalled is still stalled, or
/// was woken from the pool queue's head and owns it (seed 002). With no sender run yet (one
/// CPU), exactly one was woken.
fn check_owner(senders: &[Spawned], stalled: &[ProcessInfo]) -> Outcome {
    let mut now = Vec::new();
    for s in senders {
        now.push(step("INFO", caps::info(s.process()))?);
    }
    let idle: Vec<&ProcessInfo> = now
        .iter()
        .zip(stalled)
        .filter(|(n, was)| n.invocations == was.invocations)
        .map(|(n, _)| n)
        .collect();
    let owner =
        |i: &ProcessInfo| i.state == ProcessState::Running && i.owns == QueueOwned::PostPool;
    let waiting = |i: &ProcessInfo| i.state == ProcessState::Stalled && i.owns == QueueOwned::None;
    ensure(idle.iter().all(|i| owner(i) || waiting(i)), || {
        format!("senders that have not posted again, neither stalled nor owning the pool: {idle:?}")
    })?;
    let owners = idle.iter().filter(|i| owner(i)).count();
    ensure(idle.len() < now.len() || owners == 1, || {
        format!("{owners} senders own the post pool's queue after echo drained: {now:?}")
    })
}

/// echo got every POST once, in order per sender.
fn check_delivered() -> Outcome {
    let (posts, _, out_of_order, _) = stats()?;
    ensure(posts == SENDERS * PER_SENDER && out_of_order == 0, || {
        format!(
            "{} POSTs sent; echo got {posts} ({out_of_order} out of order)",
            SENDERS * PER_SENDER
        )
    })?;
    for stream in 0..SENDERS {
        let r = step(
            "CALL echo NEXT",
            invoke::call(slots::ECHO, echo::NEXT, &[stream], &[]),
        )?;
        ensure(r.data[0] == PER_SENDER, || {
            format!(
                "sender {stream}: echo took {} in order of {PER_SENDER}",
                r.data[0]
            )
        })?;
    }
    Ok(())
}
