//! The user runtime's basic operations on one VP (the bench process): a chore switch, spawn +
//! join, a full/empty hand-off and a channel send + receive, in guest instructions.
//!
//! Guarantees: each figure is measured inside the runtime by the main chore, over `ITERATIONS`
//! operations, less the empty loop's cost (`measure::from_total`), and is the lowest of
//! `ROUNDS` runs in fresh runtimes: a round is a few hundred thousand instructions, and one
//! that a timer tick lands in also counts the kernel's interrupt path, which is not the
//! runtime's cost (under `-icount` where the ticks land moves with every change to what runs
//! before).

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use tessera_runtime::{channel, ChannelId, Ctx, FeWord, Message, Ordinary, Suspend};
use tessera_suite::runtime::one_vp;
use tessera_user::{println, tsc};

use crate::measure::{from_total, PerOp};

const ITERATIONS: u64 = 2_000;

fn switches(ctx: &mut Ctx<Ordinary>) -> Result<PerOp, String> {
    let partner = ctx
        .spawn(|c| (0..ITERATIONS).for_each(|_| c.yield_now()))
        .map_err(|e| format!("{e:?}"))?;
    let start = tsc::now();
    (0..ITERATIONS).for_each(|_| ctx.yield_now());
    let total = tsc::now().wrapping_sub(start);
    partner.join(ctx);
    // Each of our yields is two chore-to-chore switches: to the partner and back.
    Ok(from_total(total, 2 * ITERATIONS))
}

fn spawn_join(ctx: &mut Ctx<Ordinary>) -> Result<PerOp, String> {
    let start = tsc::now();
    for i in 0..ITERATIONS {
        let h = ctx.spawn(move |_| i).map_err(|e| format!("{e:?}"))?;
        if h.join(ctx) != i {
            return Err(String::from("a chore returned the wrong value"));
        }
    }
    Ok(from_total(tsc::now().wrapping_sub(start), ITERATIONS))
}

fn full_empty(ctx: &mut Ctx<Ordinary>) -> Result<PerOp, String> {
    let (ping, pong) = (
        Arc::new(FeWord::empty_cell()),
        Arc::new(FeWord::empty_cell()),
    );
    let (a, b) = (ping.clone(), pong.clone());
    let echo = ctx
        .spawn(move |c| {
            for _ in 0..ITERATIONS {
                let v = a.read_fe(c);
                b.write_ef(c, v + 1);
            }
        })
        .map_err(|e| format!("{e:?}"))?;
    let start = tsc::now();
    for i in 0..ITERATIONS {
        ping.write_ef(ctx, i);
        if pong.read_fe(ctx) != i + 1 {
            return Err(String::from("a hand-off carried the wrong value"));
        }
    }
    let total = tsc::now().wrapping_sub(start);
    echo.join(ctx);
    // Each round is two hand-offs: ours to the echo chore and its back.
    Ok(from_total(total, 2 * ITERATIONS))
}

fn channel_send_receive(ctx: &mut Ctx<Ordinary>) -> Result<PerOp, String> {
    let (tx, rx) = channel(
        ChannelId {
            owner: ctx.id().task(),
            index: 1,
        },
        4,
    );
    let start = tsc::now();
    for i in 0..ITERATIONS {
        tx.send(Message::new(ctx.id(), 1, [i, 0, 0, 0, 0, 0]))
            .map_err(|_| String::from("the channel was full"))?;
        if rx.recv(ctx, Suspend).data[0] != i {
            return Err(String::from("a message came back wrong"));
        }
    }
    Ok(from_total(tsc::now().wrapping_sub(start), ITERATIONS))
}

type Case = fn(&mut Ctx<Ordinary>) -> Result<PerOp, String>;

const CASES: [(&str, Case); 4] = [
    ("chore_switch", switches),
    ("chore_spawn_join", spawn_join),
    ("chore_full_empty_handoff", full_empty),
    ("chore_channel_send_receive", channel_send_receive),
];

/// Rounds of each case.
const ROUNDS: usize = 3;

/// Runs `case` as the main chore of a fresh one-VP runtime.
fn round(case: Case) -> Result<PerOp, String> {
    let outcome = Arc::new(spin::Mutex::new(None));
    let slot = outcome.clone();
    let started = one_vp().and_then(|rt| {
        rt.spawn(0, move |ctx| *slot.lock() = Some(case(ctx)))
            .map_err(|e| format!("{e:?}"))?;
        rt.run_vp(0);
        Ok(())
    });
    started.and_then(|()| outcome.lock().take().unwrap_or(Err("no result".into())))
}

/// Runs each case `ROUNDS` times and prints its line: the lowest figure, or the first failure.
pub fn run() {
    for (name, case) in CASES {
        let result = (0..ROUNDS).try_fold(None::<PerOp>, |best, _| {
            let p = round(case)?;
            Ok::<_, String>(Some(match best {
                Some(b) if b.tenths <= p.tenths => b,
                _ => p,
            }))
        });
        match result.and_then(|best| best.ok_or_else(|| String::from("no round ran"))) {
            Ok(p) => println!("bench: {name} {p}"),
            Err(e) => println!("bench {name} failed: {e}"),
        }
    }
}
