//! The user runtime across VPs (`tessera-tasks`: VPs are processes of the bench's space): a
//! full/empty hand-off between a chore on VP 0 and one on VP 1, each hand-off waking a VP that
//! waits in the kernel (a POST to it, a process switch, its listener restarting the chore).
//!
//! `scaling` runs the demo's parallel search (`tessera_tasks::demo`) on 1, 2 and 4 VPs, one
//! per CPU, for `cargo xtask bench --scaling`, which gives the speed-ups as ratios of one run.
//!
//! Guarantees: the figure is per hand-off, measured by the chore on VP 0, less the empty
//! loop's cost; a run where the partner did not stay on VP 1 is reported as a failure.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use tessera_runtime::{Ctx, FeWord, Ordinary, PoolConfig, TaskId};
use tessera_tasks::{Task, TaskConfig};
use tessera_user::{caps, println, slots, tsc};

use crate::measure::{from_total, PerOp};

const ITERATIONS: u64 = 500;

fn cross_vp_handoff(ctx: &mut Ctx<Ordinary>, rt: tessera_runtime::Runtime) -> Result<PerOp, String> {
    let (ping, pong) = (Arc::new(FeWord::empty_cell()), Arc::new(FeWord::empty_cell()));
    let (a, b) = (ping.clone(), pong.clone());
    let stayed = Arc::new(FeWord::empty_cell());
    let (s, failed) = (stayed.clone(), stayed.clone());
    rt.remote(1, move |l| {
        let spawned = l.spawn(move |c| {
            let mut on_1 = 0;
            for _ in 0..ITERATIONS {
                let v = a.read_fe(c);
                on_1 += u64::from(c.vp() == 1);
                b.write_ef(c, v + 1);
            }
            s.write_f(on_1);
        });
        if spawned.is_err() {
            failed.write_f(0);
        }
    });
    let mut on_0 = 0;
    let start = tsc::now();
    for i in 0..ITERATIONS {
        ping.write_ef(ctx, i);
        if pong.read_fe(ctx) != i + 1 {
            return Err(String::from("a hand-off carried the wrong value"));
        }
        on_0 += u64::from(ctx.vp() == 0);
    }
    let total = tsc::now().wrapping_sub(start);
    let on_1 = stayed.read_ff(ctx);
    if on_1 != ITERATIONS || on_0 != ITERATIONS {
        return Err(format!(
            "of {ITERATIONS} rounds, the partner ran {on_1} on VP 1 and the measurer {on_0} on VP 0"
        ));
    }
    // Each round is two hand-offs, each across VPs.
    Ok(from_total(total, 2 * ITERATIONS))
}

/// Runs the case in a fresh two-VP task and prints its line.
pub fn run() {
    let priority = caps::info(slots::SELF).map_or(1, |i| u64::from(i.priority));
    let config = TaskConfig {
        task: TaskId::new(11).unwrap_or_else(|| unreachable!()),
        vps: 2,
        chunk_pages: 2,
        max_chunks: 2,
        chunks: 8,
        pool: PoolConfig { low_water: 1, refill: 2, reserve: 1 },
        quota: 100,
        priority,
    };
    let result = Task::new(config).and_then(|task| {
        let rt = task.runtime().clone();
        task.run(move |ctx| cross_vp_handoff(ctx, rt)).and_then(|(r, _)| r)
    });
    match result {
        Ok(p) => println!("bench: chore_cross_vp_handoff {p}"),
        Err(e) => println!("bench chore_cross_vp_handoff failed: {e}"),
    }
}

/// `scaling: demo_search_<n> <numbers searched per second> <numbers>` for 1, 2 and 4 VPs (as
/// far as `cpus` goes).
pub fn scaling(cpus: u8, tsc_hz: u64) {
    tessera_user::clock::set_tsc_hz(tsc_hz);
    let priority = caps::info(slots::SELF).map_or(1, |i| u64::from(i.priority));
    for n in [1usize, 2, 4].into_iter().filter(|&n| n <= usize::from(cpus).max(1)) {
        match tessera_tasks::demo::run_once(n, priority) {
            Ok(run) => {
                let limit = tessera_tasks::demo::LIMIT;
                let per_second = u128::from(limit) * 1_000_000_000 / u128::from(run.ns.max(1));
                println!("scaling: demo_search_{n} {per_second} {limit}");
            }
            Err(e) => println!("scaling demo_search_{n} failed: {e}"),
        }
    }
}
