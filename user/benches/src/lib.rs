//! User-level benchmarks: null invocation, CALL+RETURN to echo, SEND, POST to a waiting
//! receiver, POST queued, a POST ping-pong and a YIELD for the context switch, an IRQ to
//! the serial driver running, an alarm's POST after its deadline, a non-blocking CALL's
//! `WouldBlock` and the hand-off it replaces against a stalled CALL's; the user runtime's chore
//! switch, spawn + join, full/empty hand-off and channel send + receive on one VP. Run by
//! `bench` (bench mode) and the shell's `bench` command.
//!
//! Guarantees: one line `bench: <name> <ticks per op> <iterations>` per benchmark (ticks are
//! guest instructions under `-icount shift=0`), then `bench: done`. Assumes the program holds
//! `slots::SELF`, `slots::ECHO`, `slots::CONSOLE` and `slots::BANK` (for the yield partner,
//! the alarm and the IPC servers), and nothing in slots 40, 41, 44..47, 48..50 and 52..59.
#![no_std]

extern crate alloc;

mod alarm;
mod cases;
mod hold;
mod ipc;
mod irq;
mod measure;
mod runtime;
pub mod scaling;
mod tasks;
mod wouldblock;

use core::hint::black_box;
pub use measure::set_profile;
use measure::{profiled, PerOp, PROFILED_ITERATIONS};
use tessera_user::abi::Error;
use tessera_user::println;

fn show(name: &str, r: Result<PerOp, Error>) {
    match r {
        Ok(p) => println!("bench: {name} {p}"),
        Err(e) => println!("bench {name} failed: {e:?}"),
    }
}

/// Runs every benchmark and prints its line; in profile mode also runs each that `cargo xtask
/// profile` can take one operation of (`xtask/src/profile/timing.rs` says how for each way of
/// timing) briefly between the profile markers: the same function with the same operation (a
/// copy of the loop around it where the compiler inlined the function here, which `cargo
/// xtask test` checks counts the same).
pub fn run() {
    // In profile mode, each run again for a count the compiler cannot see (a known count
    // would let it unroll the profiled copy's loops).
    let n = || black_box(PROFILED_ITERATIONS);
    show("null_invocation", Ok(cases::null_invocation(10_000)));
    profiled("null_invocation", || {
        let _ = cases::null_invocation(n());
    });
    show("call_return", Ok(cases::call_return(2_000)));
    profiled("call_return", || {
        let _ = cases::call_return(n());
    });
    show("call_reply", ipc::call_reply(2_000));
    profiled("call_reply", || {
        let _ = ipc::call_reply(n());
    });
    match ipc::one_way(2_000) {
        Ok((call, reply)) => {
            show("call_one_way", Ok(call));
            show("reply_one_way", Ok(reply));
        }
        Err(e) => show("call_one_way", Err(e)),
    }
    profiled("call_one_way", || {
        let _ = ipc::one_way(n());
    });
    profiled("reply_one_way", || {
        let _ = ipc::one_way(n());
    });
    show("send", cases::send(2_000));
    profiled("send", || {
        let _ = cases::send(n());
    });
    show("post_waiting", cases::post_waiting(2_000));
    profiled("post_waiting", || {
        let _ = cases::post_waiting(n());
    });
    show("post_queued", cases::post_queued(50));
    // One batch: its 32 POSTs and echo taking them are a long trace already.
    profiled("post_queued", || {
        let _ = cases::post_queued(black_box(1));
    });
    let pp = cases::ping_pong(2_000);
    show("post_ping_pong", pp);
    profiled("post_ping_pong", || {
        let _ = cases::ping_pong(n());
    });
    show(
        "context_switch",
        pp.map(|p| PerOp {
            tenths: p.tenths / 2,
            iterations: p.iterations * 2,
        }),
    );
    show("yield_switch", cases::yield_switch(2_000));
    profiled("yield_switch", || {
        let _ = cases::yield_switch(n());
    });
    show("irq_to_driver", irq::irq_to_driver(2_000));
    profiled("irq_to_driver", || {
        let _ = irq::irq_to_driver(n());
    });
    show("alarm_post_latency", alarm::post_latency(200));
    show("alarm_due_at_exit", alarm::due_at_exit(2_000));
    wouldblock::run(show);
    profiled("wouldblock_call", || {
        let _ = wouldblock::call_alone(n());
    });
    runtime::run();
    tasks::run();
    println!("bench: done");
}
