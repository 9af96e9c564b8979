//! User-level benchmarks: null invocation, CALL+RETURN to echo, SEND, POST to a waiting
//! receiver, POST queued, a POST ping-pong and a YIELD for the context switch, an IRQ to
//! the serial driver running, and an alarm's POST after its deadline; the user runtime's chore
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
mod ipc;
mod irq;
mod measure;
mod runtime;
pub mod scaling;
mod tasks;
mod wouldblock;

pub use measure::set_profile;
use measure::PerOp;
use tessera_user::abi::Error;
use tessera_user::println;

fn show(name: &str, r: Result<PerOp, Error>) {
    match r {
        Ok(p) => println!("bench: {name} {p}"),
        Err(e) => println!("bench {name} failed: {e:?}"),
    }
}

/// Runs every benchmark and prints its line.
pub fn run() {
    show("null_invocation", Ok(cases::null_invocation(10_000)));
    show("call_return", Ok(cases::call_return(2_000)));
    show("call_reply", ipc::call_reply(2_000));
    match ipc::one_way(2_000) {
        Ok((call, reply)) => {
            show("call_one_way", Ok(call));
            show("reply_one_way", Ok(reply));
        }
        Err(e) => show("call_one_way", Err(e)),
    }
    show("send", cases::send(2_000));
    show("post_waiting", cases::post_waiting(2_000));
    show("post_queued", cases::post_queued(50));
    let pp = cases::ping_pong(2_000);
    show("post_ping_pong", pp);
    show(
        "context_switch",
        pp.map(|p| PerOp {
            tenths: p.tenths / 2,
            iterations: p.iterations * 2,
        }),
    );
    show("yield_switch", cases::yield_switch(2_000));
    show("irq_to_driver", irq::irq_to_driver(2_000));
    show("alarm_post_latency", alarm::post_latency(200));
    show("alarm_due_at_exit", alarm::due_at_exit(2_000));
    wouldblock::run(show);
    runtime::run();
    tasks::run();
    println!("bench: done");
}
