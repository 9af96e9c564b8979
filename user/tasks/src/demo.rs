//! The runtime's demonstration workload, run by the shell's `chores` command: on every CPU, a
//! parallel search (count the primes below `LIMIT`, split into pieces, one chore each, the
//! count kept under a spin-suspend lock), then a pipeline of channel stages (numbers, their
//! squares, their sum; the summer registers its channel with a name server chore, where the
//! squarer looks it up). Its results are checked against known values; it runs on one VP and
//! on one VP per CPU and prints the search's speed-up and both pipeline times; once the search's
//! chores are spawned, and before they start (they wait on a full/empty cell), the main chore
//! lists every chore of the task.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use tessera_runtime::{
    channel, name_server, ChannelId, ChoreInfo, Ctx, FeWord, Full, Message, Ordinary, PoolConfig,
    SpinSuspend, SpinSuspendLock, TaskId,
};
use tessera_user::{clock, println};

use crate::task::{Task, TaskConfig};

/// The search's range, and how many primes lie below it.
pub const LIMIT: u64 = 60_000;
const PRIMES_BELOW_LIMIT: u64 = 6_057;
/// Chores of the search.
const PIECES: u64 = 48;
/// Numbers through the pipeline, and the sum of their squares.
const PIPELINE: u64 = 500;
const SUM_OF_SQUARES: u64 = (PIPELINE - 1) * PIPELINE * (2 * PIPELINE - 1) / 6;

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

/// Sends without blocking; on a full channel, lets the receiver run and tries again.
fn send(ctx: &mut Ctx<Ordinary>, tx: &tessera_runtime::Sender, mut m: Message) {
    while let Err(Full(back)) = tx.send(m) {
        m = back;
        ctx.yield_now();
    }
}

/// (primes found, search ns, sum of squares through the pipeline, pipeline ns, the listing
/// taken while the search ran).
type Outcome = (u64, u64, u64, u64, Vec<ChoreInfo>);

/// The search (timed alone: its speed-up is the demo's), then the pipeline, whose stages may
/// land on different VPs: each message then costs a cross-VP wake-up.
fn workload(ctx: &mut Ctx<Ordinary>, rt: tessera_runtime::Runtime) -> Outcome {
    let start = clock::now_ns();
    let found = Arc::new(SpinSuspendLock::new(0u64));
    // The searchers wait for the listing to be taken, so it shows every one of them alive.
    let go = Arc::new(FeWord::empty_cell());
    let step = LIMIT / PIECES;
    let searchers: Vec<_> = (0..PIECES)
        .map(|i| {
            let (found, go) = (found.clone(), go.clone());
            ctx.spawn(move |c| {
                go.read_ff(c);
                let end = if i + 1 == PIECES {
                    LIMIT
                } else {
                    (i + 1) * step
                };
                let n = (i * step..end).filter(|&n| is_prime(n)).count() as u64;
                *found.lock(c) += n;
            })
        })
        .collect();
    let listing = rt.chores();
    go.write_f(1);
    for s in searchers.into_iter().flatten() {
        s.join(ctx);
    }
    let primes = *found.lock(ctx);
    let searched = clock::now_ns() - start;
    let start = clock::now_ns();
    let task = ctx.id().task();
    let names = name_server(
        ctx,
        ChannelId {
            owner: task,
            index: 3,
        },
    );
    let Ok((names, server)) = names else {
        return (primes, searched, 0, 0, listing);
    };
    let (tx1, rx1) = channel(
        ChannelId {
            owner: task,
            index: 1,
        },
        8,
    );
    let n = names.clone();
    let summer = ctx.spawn(move |c| {
        let (tx2, rx2) = channel(
            ChannelId {
                owner: task,
                index: 2,
            },
            8,
        );
        if n.register(c, "sum", tx2).is_err() {
            return 0;
        }
        (0..PIPELINE)
            .map(|_| rx2.recv(c, SpinSuspend).data[0])
            .sum::<u64>()
    });
    let n = names.clone();
    let squarer = ctx.spawn(move |c| {
        // The summer registers its channel when it first runs, maybe on another VP.
        let tx2 = loop {
            match n.lookup(c, "sum") {
                Ok(Some(tx)) => break tx,
                Ok(None) => c.yield_now(),
                Err(_) => return,
            }
        };
        for _ in 0..PIPELINE {
            let v = rx1.recv(c, SpinSuspend).data[0];
            send(c, &tx2, Message::new(c.id(), 2, [v * v, 0, 0, 0, 0, 0]));
        }
    });
    for v in 0..PIPELINE {
        send(ctx, &tx1, Message::new(ctx.id(), 1, [v, 0, 0, 0, 0, 0]));
    }
    if let Ok(s) = squarer {
        s.join(ctx);
    }
    let sum = summer.map_or(0, |s| s.join(ctx));
    let piped = clock::now_ns() - start;
    if names.stop(ctx).is_ok() {
        server.join(ctx);
    }
    (primes, searched, sum, piped, listing)
}

/// What one run showed.
#[derive(Clone, Debug)]
pub struct DemoRun {
    pub vps: usize,
    /// The search's time.
    pub ns: u64,
    /// The pipeline's time.
    pub pipeline_ns: u64,
    pub cpus: Vec<u32>,
    pub listing: Vec<ChoreInfo>,
}

/// Runs the demo once on `vps` VPs, checking its results.
pub fn run_once(vps: usize, priority: u64) -> Result<DemoRun, String> {
    let task = Task::new(TaskConfig {
        task: TaskId::new(42).unwrap_or_else(|| unreachable!()),
        vps,
        chunk_pages: 2,
        max_chunks: 4,
        chunks: 16,
        slots: 128,
        dense_bytes: 0,
        pool: PoolConfig {
            low_water: 2,
            refill: 4,
            reserve: 1,
        },
        quota: 300,
        priority,
    })?;
    let rt = task.runtime().clone();
    let ((primes, ns, sum, pipeline_ns, listing), report) = task.run(move |c| workload(c, rt))?;
    if primes != PRIMES_BELOW_LIMIT || sum != SUM_OF_SQUARES {
        return Err(format!(
            "wrong results on {vps} VPs: {primes} primes (expected {PRIMES_BELOW_LIMIT}), sum {sum} (expected {SUM_OF_SQUARES})"
        ));
    }
    Ok(DemoRun {
        vps,
        ns,
        pipeline_ns,
        cpus: report.cpus,
        listing,
    })
}

/// Runs the demo on one VP and on `vps` VPs; returns both runs.
pub fn demo(vps: usize, priority: u64) -> Result<(DemoRun, DemoRun), String> {
    let one = run_once(1, priority)?;
    let many = run_once(vps, priority)?;
    Ok((one, many))
}

/// The shell's `chores`: the demo on up to four VPs (one per CPU), its chore listing,
/// the checks and the speed-up.
pub fn chores_command(priority: u64) {
    match demo(4, priority) {
        Ok((one, many)) => {
            println!(
                "chores of task 42 during the search on {} VPs (CPUs {:?}):",
                many.vps, many.cpus
            );
            println!("id         kind         state      VP");
            for c in &many.listing {
                println!("{c}");
            }
            println!(
                "demo: search ({PIECES} chores) 1 VP {} ms, {} VPs {} ms, speed-up {}.{:02}; 3-stage channel pipeline 1 VP {} ms, {} VPs {} ms; results checked",
                one.ns / 1_000_000,
                many.vps,
                many.ns / 1_000_000,
                one.ns / many.ns.max(1),
                one.ns * 100 / many.ns.max(1) % 100,
                one.pipeline_ns / 1_000_000,
                many.vps,
                many.pipeline_ns / 1_000_000,
            );
        }
        Err(e) => println!("chores: {e}"),
    }
}
