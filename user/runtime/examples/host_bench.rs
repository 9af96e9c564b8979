//! Host timings of the runtime's basic operations on one VP (a host thread): chore switch,
//! spawn + join, full/empty hand-off between two chores, channel send + receive. Run by hand:
//! `cargo run --release -p tessera-runtime --example host_bench`. Nanoseconds, not guest
//! instructions: a first look until the ring-3 benchmarks exist.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use tessera_runtime::{channel, ChannelId, FeWord, Message, Suspend, TaskId};

const N: u32 = 200_000;

fn per_op(name: &str, ops: u32, start: Instant) {
    println!(
        "{name:>22}: {:7.1} ns",
        start.elapsed().as_nanos() as f64 / ops as f64
    );
}

fn main() {
    common::run(1, |ctx| {
        let other = ctx.spawn(|c| (0..N).for_each(|_| c.yield_now())).unwrap();
        let t = Instant::now();
        (0..N).for_each(|_| ctx.yield_now());
        // Each yield is two switches: to the listener and on to the next chore.
        per_op("yield (chore to chore)", 2 * N, t);
        other.join(ctx);

        let t = Instant::now();
        for i in 0..N / 10 {
            let h = ctx.spawn(move |_| i).unwrap();
            assert_eq!(h.join(ctx), i);
        }
        per_op("spawn + join", N / 10, t);

        let (ping, pong) = (
            Arc::new(FeWord::empty_cell()),
            Arc::new(FeWord::empty_cell()),
        );
        let (a, b) = (ping.clone(), pong.clone());
        let echo = ctx
            .spawn(move |c| {
                for _ in 0..N {
                    let v = a.read_fe(c);
                    b.write_ef(c, v + 1);
                }
            })
            .unwrap();
        let t = Instant::now();
        for i in 0..N as u64 {
            ping.write_ef(ctx, i);
            assert_eq!(pong.read_fe(ctx), i + 1);
        }
        per_op("full/empty hand-off", 2 * N, t);
        echo.join(ctx);

        let (tx, rx) = channel(
            ChannelId {
                owner: TaskId::new(7).unwrap(),
                index: 1,
            },
            4,
        );
        let t = Instant::now();
        for i in 0..N as u64 {
            tx.send(Message::new(ctx.id(), 1, [i; 6])).unwrap();
            assert_eq!(rx.recv(ctx, Suspend).data[0], i);
        }
        per_op("channel send + receive", N, t);
    });
}
