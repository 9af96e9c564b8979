//! HALT completes (seed 001 section 5.4): it returns only when the halted process is off every
//! CPU, so the registers a keeper or debugger reads afterwards are stable. A halter whose target
//! still runs on another CPU waits until that CPU has left it; processes halting each other,
//! two at a time or in a ring, all make progress. On the old kernel HALT returned at once and
//! the target ran on until its CPU next entered the kernel.
#![cfg(not(loom))]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{call, inv, ModelRegs, H};
use tessera_abi::{order, CapType, Error, InvocationKind, ProcessInfo, ProcessState, Rights};
use tessera_core::{Cap, Cpu, ObjId};

const NEXT: u8 = 10;

fn info(h: &mut H, p: Cap) -> ProcessInfo {
    ProcessInfo::unpack(h.obj(p, order::process::INFO, &[], &[]).unwrap().0).unwrap()
}

/// Two processes that hold capabilities to each other, `a` current on CPU 0 and `b` on CPU 1.
fn two_running() -> (H, Cap, Cap) {
    let mut h = H::new(2, 8, 100, 2);
    let a = h.process(1);
    let b = h.process(1);
    h.give(a, NEXT, b, Rights::ALL);
    h.give(b, NEXT, a, Rights::ALL);
    h.start(a);
    h.start(b);
    h.tick(0);
    h.tick(1);
    assert_eq!((h.current(0), h.current(1)), (Some(a.obj), Some(b.obj)));
    (h, a, b)
}

/// Which CPU `p` is current on.
fn cpu_of(h: &H, p: Cap) -> Option<usize> {
    (0..h.cpus.len()).find(|&c| h.current(c) == Some(p.obj))
}

#[test]
fn a_halt_returns_only_when_the_target_is_off_every_cpu() {
    let (mut h, a, b) = two_running();
    h.syscall(0, call(NEXT, order::process::HALT, &[], &[], 0));
    assert_ne!(
        h.current(0),
        Some(a.obj),
        "the halter waits while its target still runs"
    );
    assert_eq!(
        h.current(1),
        Some(b.obj),
        "CPU 1 has not entered the kernel yet"
    );
    assert_eq!(
        h.obj(b, order::process::READ_REGS, &[0], &[]).unwrap_err(),
        Error::BadState,
        "registers of a process still running are not readable"
    );
    h.tick(1);
    assert_eq!(
        info(&mut h, b).cpu,
        None,
        "CPU 1 has left the halted process"
    );
    for c in [0, 1] {
        if h.current(c).is_none() {
            h.tick(c);
        }
    }
    let c = cpu_of(&h, a).expect("the halter runs again");
    assert_eq!(h.error(c), None, "its HALT completed");
    let i = info(&mut h, b);
    assert_eq!((i.state, i.cpu), (ProcessState::Halted, None));
    let regs = |h: &mut H| h.obj(b, order::process::READ_REGS, &[0], &[]).unwrap().0;
    assert_eq!(regs(&mut h), regs(&mut h), "the registers are stable");
}

#[test]
fn a_second_halter_waits_too_and_then_finds_the_target_halted() {
    let mut h = H::new(3, 8, 100, 2);
    let (a, b, c) = (h.process(1), h.process(1), h.process(1));
    h.give(a, NEXT, b, Rights::ALL);
    h.give(c, NEXT, b, Rights::ALL);
    for p in [a, b, c] {
        h.start(p);
    }
    for cpu in 0..3 {
        h.tick(cpu);
    }
    let on = |h: &H, p: Cap| cpu_of(h, p).unwrap();
    let (ca, cb, cc) = (on(&h, a), on(&h, b), on(&h, c));
    h.syscall(ca, call(NEXT, order::process::HALT, &[], &[], 0));
    h.syscall(cc, call(NEXT, order::process::HALT, &[], &[], 0));
    assert_eq!(
        (h.current(ca), h.current(cc)),
        (None, None),
        "both halters wait"
    );
    h.tick(cb);
    for cpu in 0..3 {
        if h.current(cpu).is_none() {
            h.tick(cpu);
        }
    }
    let mut errors: Vec<_> = [a, c].iter().map(|&p| h.error(on(&h, p))).collect();
    errors.sort_by_key(|e| e.map(Error::raw));
    assert_eq!(
        errors,
        [None, Some(Error::BadState)],
        "one halted it, the other finds it halted"
    );
}

#[test]
fn two_processes_halting_each_other_both_make_progress() {
    let (mut h, a, b) = two_running();
    h.syscall(0, call(NEXT, order::process::HALT, &[], &[], 0));
    h.syscall(1, call(NEXT, order::process::HALT, &[], &[], 0));
    assert_eq!(
        info(&mut h, b).state,
        ProcessState::Halted,
        "a's halt came first"
    );
    assert_eq!(
        info(&mut h, a).state,
        ProcessState::Running,
        "CPU 1 left b and woke a"
    );
    for c in [0, 1] {
        if h.current(c).is_none() {
            h.tick(c);
        }
    }
    let c = cpu_of(&h, a).expect("a runs again");
    assert_eq!(h.error(c), None);
    h.syscall(c, call(NEXT, order::process::RESUME, &[], &[], 0));
    assert_eq!(h.error(c), None);
    // b re-runs its HALT of a, which is running: now a is halted and b waits in turn.
    for _ in 0..4 {
        for c in [0, 1] {
            h.tick(c);
        }
    }
    assert_eq!(info(&mut h, a).state, ProcessState::Halted);
    let c = cpu_of(&h, b).expect("b runs again");
    assert_eq!(h.error(c), None, "b's HALT completed too");
}

#[test]
fn destroying_a_process_running_elsewhere_waits_for_it_to_leave() {
    let mut h = H::new(2, 8, 100, 2);
    let bank = h
        .obj(
            h.root,
            order::bank::CREATE,
            &[CapType::Bank as u64, 10],
            &[],
        )
        .unwrap()
        .1
        .unwrap();
    let a = h.process(1);
    let b = h
        .obj(bank, order::bank::CREATE, &[CapType::Process as u64], &[])
        .unwrap()
        .1
        .unwrap();
    h.give(a, NEXT, bank, Rights::ALL);
    h.give(a, NEXT + 1, b, Rights::ALL);
    h.start(a);
    h.start(b);
    h.tick(0);
    h.tick(1);
    assert_eq!((h.current(0), h.current(1)), (Some(a.obj), Some(b.obj)));
    h.syscall(0, call(NEXT, order::bank::DESTROY, &[], &[NEXT + 1], 0));
    assert_eq!(
        h.current(0),
        None,
        "the destroyer waits for CPU 1 to leave its victim"
    );
    assert_eq!(
        h.current(1),
        Some(b.obj),
        "the victim is halted but not yet gone"
    );
    h.tick(1);
    assert_eq!(cpu_of(&h, b), None, "CPU 1 has left the victim");
    for c in [0, 1] {
        if h.current(c).is_none() {
            h.tick(c);
        }
    }
    let c = cpu_of(&h, a).expect("the destroyer runs again");
    assert_eq!(h.error(c), None, "the destroy completed");
    assert_eq!(
        h.obj(b, order::process::INFO, &[], &[]).unwrap_err(),
        Error::NullCapability,
        "the victim is gone"
    );
}

/// What each ring member does next.
#[derive(Clone, Copy)]
struct Member {
    rounds: u32,
    last: Option<u32>,
}

/// One step of the program current on `cpu`: check its last reply, then HALT or RESUME the
/// next member of the ring, or wait for good when its rounds are done.
fn ring_step(
    h: &H,
    cpu: &mut Cpu,
    regs: &mut ModelRegs,
    ring: &Mutex<BTreeMap<ObjId, (Member, Cap)>>,
    done: &AtomicUsize,
) -> Result<(), String> {
    let Some(me) = cpu.current() else {
        h.k.interrupted_framed(cpu, regs, None);
        return Ok(());
    };
    let (m, next) = *ring.lock().unwrap().get(&me).ok_or("unknown process")?;
    if let Some(o) = m.last {
        if let Some(e) = Error::from_raw(regs.reply().error) {
            return Err(format!("{me:?}: order {o} failed with {e:?}"));
        }
    }
    if m.last == Some(order::process::HALT) {
        let (d, _) =
            h.k.kernel_invoke(cpu, next, order::process::INFO, &[], &[])
                .map_err(|e| format!("INFO: {e:?}"))?;
        let i = ProcessInfo::unpack(d).ok_or("bad info")?;
        if i.state != ProcessState::Halted || i.cpu.is_some() {
            return Err(format!(
                "after HALT returned, {next:?} is {:?} on {:?}",
                i.state, i.cpu
            ));
        }
    }
    let (o, rounds) = match m.last {
        Some(order::process::HALT) => (Some(order::process::RESUME), m.rounds),
        _ if m.rounds == 0 => (None, 0),
        _ => (Some(order::process::HALT), m.rounds - 1),
    };
    ring.lock()
        .unwrap()
        .insert(me, (Member { rounds, last: o }, next));
    regs.load(&match o {
        Some(o) => call(NEXT, o, &[], &[], 0),
        None => {
            done.fetch_add(1, Ordering::SeqCst);
            inv(InvocationKind::Return, 0, 0, &[], &[], [0; 4])
        }
    });
    h.k.syscall_framed(cpu, regs);
    Ok(())
}

/// Four processes on four CPUs each halt and resume the next, in a ring, many times: each
/// waits for its target to leave its CPU while being halted itself, and all finish.
#[test]
fn a_ring_of_four_halting_each_other_on_real_threads_all_finish() {
    const MEMBERS: usize = 4;
    const ROUNDS: u32 = 300;
    let mut h = H::new(MEMBERS, 8, 100, 2);
    let ps: Vec<Cap> = (0..MEMBERS).map(|_| h.process(1)).collect();
    let mut ring = BTreeMap::new();
    for (i, p) in ps.iter().enumerate() {
        let next = ps[(i + 1) % MEMBERS];
        h.give(*p, NEXT, next, Rights::ALL);
        ring.insert(
            p.obj,
            (
                Member {
                    rounds: ROUNDS,
                    last: None,
                },
                next,
            ),
        );
    }
    for p in &ps {
        h.start(*p);
    }
    let ring = Mutex::new(ring);
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(60);
    let cpus: Vec<Cpu> = std::mem::take(&mut h.cpus);
    let hr = &h;
    let results: Vec<(Cpu, Result<(), String>)> = std::thread::scope(|sc| {
        let workers: Vec<_> = cpus
            .into_iter()
            .map(|mut cpu| {
                let (ring, done, stop) = (&ring, &done, &stop);
                sc.spawn(move || {
                    let mut regs = ModelRegs::default();
                    while !stop.load(Ordering::SeqCst)
                        && done.load(Ordering::SeqCst) < MEMBERS
                        && Instant::now() < deadline
                    {
                        if let Err(e) = ring_step(hr, &mut cpu, &mut regs, ring, done) {
                            stop.store(true, Ordering::SeqCst);
                            return (cpu, Err(e));
                        }
                    }
                    hr.k.interrupted_framed(&mut cpu, &mut regs, None);
                    (cpu, Ok(()))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a CPU thread panicked"))
            .collect()
    });
    let mut cpus = Vec::new();
    for (cpu, r) in results {
        r.unwrap();
        cpus.push(cpu);
    }
    assert_eq!(
        done.load(Ordering::SeqCst),
        MEMBERS,
        "not every member finished in time"
    );
    h.cpus = cpus;
    h.k.check_invariants(&h.cpus).unwrap();
}
