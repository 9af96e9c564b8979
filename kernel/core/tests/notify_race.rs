//! The race of seed 000 section 8's `kc_xxx`: a condition that clears between a non-blocking
//! CALL's check and its registration must still notify (issue 9). Two CPUs, made to interleave
//! at an exact point: a client's non-blocking CALL to a server running on the other CPU is
//! stopped at its `n`-th lock turn (`TurnGate`), and there the server's whole entry, a RETURN
//! into its open wait (it becomes available and fires its watchers), runs, for every `n` from
//! the first turn to the last. Where the stopped path holds the server's lock, the server's
//! entry (whose first lock is its own) would only wait for it, so it runs after the client's
//! instead; elsewhere, which is where another CPU's path can really run in between, it runs
//! right there.
//!
//! Each interleaving must end in one of two ways: the CALL got through (the server waited
//! first), or it got `WouldBlock` with a request registered and its listener is notified
//! exactly once. The planted bug `RegisterUnlocked` (registration after the check's lock is
//! dropped and taken again) must be caught: the server waits again in that window, and the
//! request registered after it is never notified.
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use common::{inv, Gated, ModelRegs, TestPlatform, TurnGate, H};
use std::sync::{Condvar, Mutex};
use std::time::Duration;
use tessera_abi::message::{Invocation, MessageInfo};
use tessera_abi::post::NOTIFIED;
use tessera_abi::{order, Error, InvocationKind, ProcessState};
use tessera_core::lock_key::LockKey;
use tessera_core::sync::LockTable;
use tessera_core::{Cap, Cpu, Exit, Kernel};

const EP: u8 = 10;
const WORD: u64 = 0x5eed;
const NOTIFY_BADGE: u64 = 77;
/// How long the server's entry may take when it runs at a stopped turn of the client's path:
/// it needs no lock but its own there, so it ends at once unless that assumption is wrong.
const SERVER_PATIENCE: Duration = Duration::from_secs(10);

fn wait() -> Invocation {
    inv(InvocationKind::Return, 0, 0, &[], &[], [0; 4])
}

fn nonblocking_call() -> Invocation {
    let mut i = inv(InvocationKind::Call, EP, 5, &[1], &[], [0; 4]);
    i.info |= MessageInfo::NONBLOCKING;
    i
}

/// A server current on CPU 1, a client current on CPU 0 with an endpoint to it, and the
/// listener its notifications go to, waiting (pinned to CPU 0).
struct World {
    h: H,
    s: Cap,
    c: Cap,
    l: Cap,
}

fn world() -> World {
    let mut h = H::new(2, 8, 40, 2);
    let s = h.process(1);
    let c = h.client(1, s, EP, 1);
    let l = h.process(1);
    let to_l = h.endpoint(l, NOTIFY_BADGE);
    h.obj(c, order::process::SET_NOTIFY, &[WORD], &[to_l])
        .unwrap();
    for (p, cpu) in [(s, 1), (c, 0), (l, 0)] {
        h.obj(p, order::process::SET_AFFINITY, &[cpu], &[]).unwrap();
    }
    h.start(l);
    run(&mut h, 0, l);
    h.syscall(0, wait());
    h.start(c);
    run(&mut h, 0, c);
    h.start(s);
    run(&mut h, 1, s);
    World { h, s, c, l }
}

/// Runs timer ticks on CPU `cpu` until `p` is current there.
fn run(h: &mut H, cpu: usize, p: Cap) {
    for _ in 0..64 {
        if h.current(cpu) == Some(p.obj) {
            return;
        }
        h.k.timer_tick(h.cpus[cpu].id);
        h.tick(cpu);
    }
    panic!("{p:?} never ran on CPU {cpu}");
}

/// Runs timer ticks on both CPUs until `p` is current on one; returns which (a process woken
/// by a POST from the other CPU joins it there and moves at its next exit).
fn run_anywhere(h: &mut H, p: Cap) -> usize {
    for _ in 0..64 {
        for cpu in 0..2 {
            if h.current(cpu) == Some(p.obj) {
                return cpu;
            }
            h.k.timer_tick(h.cpus[cpu].id);
            h.tick(cpu);
        }
    }
    let (d, _) = h.obj(p, order::process::INFO, &[], &[]).unwrap();
    panic!(
        "{p:?} never ran: {:?}, current {:?} {:?}",
        tessera_abi::ProcessInfo::unpack(d),
        h.current(0),
        h.current(1)
    );
}

/// One system call of CPU `c`'s current process, on this thread.
fn syscall(k: &Kernel<TestPlatform>, cpu: &mut Cpu, regs: &mut ModelRegs, c: usize, i: Invocation) {
    regs.load(&i);
    k.platform.mmu.lock().unwrap().kernel_entered(c);
    let space = match k.syscall_framed(cpu, regs) {
        Exit::User { space, .. } => space,
        Exit::Idle => None,
    };
    k.platform.mmu.lock().unwrap().user_entered(c, space);
}

/// A bug to plant for one exploration (none without the `planted-bugs` feature).
#[cfg(feature = "planted-bugs")]
type Bug = Option<tessera_core::planted::PlantedBug>;
#[cfg(not(feature = "planted-bugs"))]
type Bug = Option<std::convert::Infallible>;

fn plant(k: &Kernel<TestPlatform>, bug: Bug) {
    #[cfg(feature = "planted-bugs")]
    k.plant(bug);
    #[cfg(not(feature = "planted-bugs"))]
    let _ = (k, bug);
}

/// How the client's CALL ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The server waited first: the CALL was delivered.
    Delivered,
    /// `WouldBlock`, and the one notification came.
    Notified,
    /// Turn `n` is past the end of the client's entry: nothing more to explore.
    Past,
}

/// The client's CALL stopped at its turn `n`, the server's RETURN run there (or after it).
fn race_at(n: usize, bug: Bug) -> Result<Outcome, String> {
    let mut w = world();
    plant(&w.h.k, bug);
    let gate = TurnGate::new(n);
    *w.h.k.platform.turn_gate.lock().unwrap() = Some(gate.clone());
    let mut cpus = std::mem::take(&mut w.h.cpus);
    let mut regs = std::mem::take(&mut w.h.regs);
    let ([cpu0, cpu1], [regs0, regs1]) = (&mut cpus[..], &mut regs[..]) else {
        unreachable!("two CPUs")
    };
    let k = &w.h.k;
    let server_lock = k.lock_of(LockKey::process(w.s.obj.index));
    let (done, ended) = (&Mutex::new(false), &Condvar::new());
    let reached = std::thread::scope(|sc| {
        let client = sc.spawn(|| {
            gate.claim();
            syscall(k, cpu0, regs0, 0, nonblocking_call());
            gate.end();
        });
        let reached = gate.reached();
        if reached == Gated::Stopped && server_lock.is_free() {
            let server = sc.spawn(|| {
                syscall(k, cpu1, regs1, 1, wait());
                *done.lock().unwrap() = true;
                ended.notify_all();
            });
            let (finished, _) = ended
                .wait_timeout_while(done.lock().unwrap(), SERVER_PATIENCE, |d| !*d)
                .unwrap();
            let in_time = *finished;
            drop(finished);
            gate.go();
            client.join().unwrap();
            server.join().unwrap();
            return (reached, in_time);
        }
        gate.go();
        client.join().unwrap();
        syscall(k, cpu1, regs1, 1, wait());
        (reached, true)
    });
    *w.h.k.platform.turn_gate.lock().unwrap() = None;
    plant(&w.h.k, None);
    w.h.cpus = cpus;
    w.h.regs = regs;
    w.h.check();
    match reached {
        (Gated::Ended, _) => return Ok(Outcome::Past),
        (_, false) => {
            return Err(String::from(
                "the server's entry waited for a lock of the stopped path other than its own",
            ))
        }
        _ => {}
    }
    outcome(&mut w)
}

fn outcome(w: &mut World) -> Result<Outcome, String> {
    if w.h.state(w.c) == ProcessState::Waiting {
        return match w.h.state(w.l) {
            ProcessState::Available => Ok(Outcome::Delivered),
            st => Err(format!("the CALL was delivered and the listener is {st:?}")),
        };
    }
    let (e, registered) = (w.h.error(0), w.h.reply(0).data[0]);
    if (e, registered) != (Some(Error::WouldBlock), 1) {
        return Err(format!(
            "the CALL ended with {e:?}, registered {registered}"
        ));
    }
    if w.h.state(w.s) != ProcessState::Available {
        return Err(String::from("the server is not waiting"));
    }
    if w.h.state(w.l) != ProcessState::Running {
        return Err(String::from(
            "WouldBlock with a request registered, and the server waits again, but the listener got no notification",
        ));
    }
    let cpu = run_anywhere(&mut w.h, w.l);
    let r = w.h.reply(cpu);
    let i = MessageInfo::unpack(r.info).unwrap();
    if (i.order, r.data[0], r.badge) != (NOTIFIED, WORD, NOTIFY_BADGE) {
        return Err(format!("the listener got {r:?}"));
    }
    w.h.syscall(cpu, wait());
    if w.h.state(w.l) == ProcessState::Running {
        return Err(String::from("a second notification"));
    }
    Ok(Outcome::Notified)
}

/// Every turn of the client's path, in order, until one lies past its end.
fn explore(bug: Bug) -> Result<Vec<Outcome>, String> {
    let mut seen = Vec::new();
    for n in 0..64 {
        match race_at(n, bug).map_err(|e| format!("turn {n}: {e}"))? {
            Outcome::Past => return Ok(seen),
            o => seen.push(o),
        }
    }
    Err(String::from("the client's path has more than 64 turns"))
}

#[test]
fn a_server_that_waits_at_any_point_of_a_nonblocking_call_is_either_called_or_notifies_once() {
    let seen = explore(None).unwrap();
    println!("outcome at each turn of the client's path: {seen:?}");
    assert!(
        seen.contains(&Outcome::Delivered) && seen.contains(&Outcome::Notified),
        "both ends must be reached: {seen:?}"
    );
}

#[cfg(feature = "planted-bugs")]
#[test]
fn registering_after_the_checks_lock_was_dropped_is_caught() {
    let e = explore(Some(tessera_core::planted::PlantedBug::RegisterUnlocked))
        .expect_err("a registration outside the check's lock went unnoticed");
    println!("caught: {e}");
    assert!(
        e.contains("no notification"),
        "caught for another reason: {e}"
    );
}
