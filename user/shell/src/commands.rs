//! The shell's commands: one function per command, dispatched on the first word.
//!
//! Guarantees: every line gets an answer; an unknown command says how to list the commands.

use crate::ps;
use tessera_user::abi::boot::InitArg;
use tessera_user::abi::Error;
use tessera_user::{console, println, slots, trace, tsc};

const HELP: &str = "commands:
  help             this list
  ps               processes: id, name, state, priority, CPU, pinned CPU, invocations, queue owned
  echo <text>      print the text
  uptime           time since boot (from the TSC)
  kill <id>        halt a process (ids from ps)
  test             run the user-level test suite and print a pass/fail summary
  bench            run the benchmarks (ticks per operation; instructions under -icount)
  chores           run the runtime's demo task on every CPU: its chores listed during the search, results checked, speed-up
  trace start|stop kernel tracing: start it, or stop it and write it to COM2
  shutdown         end the machine (QEMU exits with success)";

pub fn run(line: &str, arg: &InitArg) {
    let line = line.trim();
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    match cmd {
        "" => {}
        "help" => println!("{HELP}"),
        "ps" => ps::ps(),
        "echo" => println!("{}", rest.trim()),
        "uptime" => uptime(arg.tsc_hz),
        "kill" => ps::kill(rest),
        "test" => {
            tessera_suite::run(arg.tsc_hz);
        }
        "bench" => {
            tessera_user::clock::set_tsc_hz(arg.tsc_hz);
            tessera_benches::run()
        }
        "chores" => {
            tessera_user::clock::set_tsc_hz(arg.tsc_hz);
            let priority =
                tessera_user::caps::info(slots::SELF).map_or(1, |i| u64::from(i.priority));
            tessera_tasks::demo::chores_command(priority)
        }
        "trace" => trace(rest.trim()),
        "shutdown" => {
            println!("shutting down");
            let e = console::shutdown(true);
            println!("shutdown failed: {e:?}");
        }
        other => println!("{other}: unknown command (type help for the list)"),
    }
}

fn trace(what: &str) {
    let done = match what {
        "start" => trace::start(slots::SELF).map(|()| println!("tracing on")),
        "stop" => {
            trace::stop(slots::SELF).map(|n| println!("tracing off: {n} events written to COM2"))
        }
        _ => {
            println!("trace: usage: trace start | trace stop");
            return;
        }
    };
    match done {
        Ok(()) => {}
        Err(Error::BadState) => println!(
            "trace: this kernel is built without tracing (cargo xtask trace builds one with it)"
        ),
        Err(e) => println!("trace: {e:?}"),
    }
}

fn uptime(hz: u64) {
    if hz == 0 {
        println!("uptime: the TSC rate is unknown");
        return;
    }
    let ticks = tsc::now();
    let secs = ticks / hz;
    let millis = (ticks % hz) * 1000 / hz;
    println!(
        "up {}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        millis
    );
}
