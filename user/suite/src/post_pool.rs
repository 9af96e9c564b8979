//! POSTs are never dropped when a sender's post activities run out (DESIGN.md "POST", seed
//! 003): helper processes POST echo more than their allotment holds while echo is held, until
//! each is stalled; then echo drains, every sender finishes, and every POST arrived exactly once
//! and in order per sender (echo's `COUNT` streams). And no sender can spend another's
//! activities: one that floods a recipient that never listens stalls alone.
//!
//! Assumes: each process has [`ALLOTMENT`] activities and nothing else keeps POSTs queued
//! meanwhile. Guarantees: echo is released on every path, and a lost POST fails the test
//! (counts and streams) rather than hanging it.

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

/// Post activities each process has (`kernel/x86_64/src/system`).
const ALLOTMENT: u64 = 32;
/// What a single pool shared by everyone held before allotments: a flood of more than this
/// drained it for all.
const SHARED_POOL: u64 = 64;
const SENDERS: u64 = 3;
/// More than an allotment holds, so each sender stalls.
const PER_SENDER: u64 = ALLOTMENT + 8;

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
        check_woken(&senders, &stalled)?;
        set_priority(&senders, ctx.priority)?;
    }
    for s in &senders {
        await_state(s.process(), |st| st == ProcessState::Halted)?;
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
        infos.push(await_state(s.process(), |st| st == ProcessState::Stalled)?);
    }
    for i in &infos {
        ensure(i.invocations <= ALLOTMENT, || {
            format!(
                "a sender had {} POSTs accepted while echo was held, more than its {ALLOTMENT}",
                i.invocations
            )
        })?;
    }
    ensure(infos.iter().all(|i| i.owns == QueueOwned::None), || {
        format!("a stalled sender owns a queue: {infos:?}")
    })?;
    Ok(infos)
}

/// After echo took every queued POST (so each sender's activities were freed) while the senders
/// sit below the tester's priority: a sender that has not posted since it stalled was woken,
/// and owns nothing (only it could use what its allotment freed).
fn check_woken(senders: &[Spawned], stalled: &[ProcessInfo]) -> Outcome {
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
    ensure(
        idle.iter()
            .all(|i| i.state == ProcessState::Running && i.owns == QueueOwned::None),
        || format!("senders not woken when echo freed their activities: {idle:?}"),
    )
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

/// A helper floods a recipient that never listens (a halted helper) with more POSTs than a
/// single shared pool held; it must stall on its own allotment while another helper's POSTs
/// are all still queued at once. Fails (the honest helper stays stalled) on a shared pool.
pub fn one_sender_cannot_drain_the_pool(ctx: &Ctx) -> Outcome {
    const DEAF: u8 = SCRATCH;
    const FLOODER: u8 = SCRATCH + 3;
    const HONEST: u8 = SCRATCH + 6;
    const DEAF_EP: u8 = SCRATCH + 9;
    reset()?;
    let mut helpers: Vec<Spawned> = Vec::new();
    let r = (|| {
        helpers.push(step(
            "spawn the deaf recipient",
            spawn(DEAF, Helper::Spin, 0, ctx.priority, ENDPOINT),
        )?);
        step(
            "endpoint to it",
            caps::make_endpoint(helpers[0].process(), 1, DEAF_EP),
        )?;
        let flood = SHARED_POOL + 8;
        helpers.push(step(
            "spawn the flooder",
            spawn(FLOODER, Helper::Poster, flood, ctx.priority, ENDPOINT),
        )?);
        step(
            "aim the flooder at the deaf one",
            caps::set_cap(
                helpers[1].process(),
                slots::ECHO,
                DEAF_EP,
                tessera_user::abi::Rights::ALL,
            ),
        )?;
        step("start the flooder", caps::resume(helpers[1].process()))?;
        let flooder = await_state(helpers[1].process(), |st| st == ProcessState::Stalled)?;
        ensure(flooder.invocations == ALLOTMENT, || {
            format!(
                "the flooder had {} POSTs accepted, not its allotment of {ALLOTMENT}",
                flooder.invocations
            )
        })?;
        hold_echo()?;
        let honest = (1u64 << 32) | ALLOTMENT;
        helpers.push(step(
            "spawn an honest sender",
            spawn(HONEST, Helper::Poster, honest, ctx.priority, ENDPOINT),
        )?);
        step("start it", caps::resume(helpers[2].process()))?;
        let done = await_state(helpers[2].process(), |st| st == ProcessState::Halted);
        release_echo()?;
        done.map_err(|e| format!("the honest sender did not finish beside the flooder: {e}"))?;
        let (posts, _, out_of_order, _) = stats()?;
        ensure(posts == ALLOTMENT && out_of_order == 0, || {
            format!("echo got {posts} of the honest sender's {ALLOTMENT} POSTs ({out_of_order} out of order)")
        })
    })();
    // The deaf recipient goes first: its queued POSTs are freed, and the flooder, woken, is
    // refused by the dead endpoint and halts before it is destroyed in turn.
    drop(helpers);
    r
}
