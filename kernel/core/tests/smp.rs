//! The kernel core on real host threads: one thread per CPU, clients calling servers while a
//! halter thread halts and resumes them. Lock contention, `Restart`, spinning and stealing
//! happen for real here (the simulator runs entries one at a time). A broken lock discipline
//! shows up as a panic (an object reached without its lock), a deadlock (the test's time limit)
//! or a failed invariant at the end.
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{inv, ModelRegs, H};
use tessera_abi::message::MessageInfo;
use tessera_abi::{order, Error, InvocationKind, Rights};
use tessera_core::{Cap, Cpu, ObjId};

const CALLS: u64 = 10_000;
const CLIENTS: usize = 6;
const SERVERS: usize = 2;

#[derive(Clone, Copy, Debug)]
enum Prog {
    Client {
        left: u64,
        pending: Option<u64>,
        next_id: u64,
    },
    Server {
        resume: Option<u64>,
    },
}

struct Xs(u64);

impl Xs {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One step of the program current on this CPU; returns an error on a wrong reply.
fn step(
    h: &H,
    cpu: &mut Cpu,
    regs: &mut ModelRegs,
    progs: &Mutex<BTreeMap<ObjId, Prog>>,
    done: &AtomicUsize,
    rng: &mut Xs,
) -> Result<(), String> {
    let Some(me) = cpu.current() else {
        h.k.interrupted_framed(cpu, regs, None);
        return Ok(());
    };
    let prog = progs
        .lock()
        .unwrap()
        .get(&me)
        .copied()
        .ok_or("unknown process")?;
    let r = regs.reply();
    let (next, i) = match prog {
        Prog::Client {
            left,
            pending,
            next_id,
        } => {
            if let Some(id) = pending {
                match Error::from_raw(r.error) {
                    None if r.data[0] == id => {}
                    None => return Err(format!("call {id} got reply {:?}", r.data)),
                    Some(Error::Halted) => {}
                    Some(e) => return Err(format!("call {id} failed with {e:?}")),
                }
            }
            if left == 0 {
                if pending.is_some() {
                    done.fetch_add(1, Ordering::SeqCst);
                }
                (
                    Prog::Client {
                        left,
                        pending: None,
                        next_id,
                    },
                    inv(InvocationKind::Return, 0, 0, &[], &[], [0; 4]),
                )
            } else {
                let s = 10 + (rng.next() % SERVERS as u64) as u8;
                let id = next_id;
                (
                    Prog::Client {
                        left: left - 1,
                        pending: Some(id),
                        next_id: id + 1,
                    },
                    inv(InvocationKind::Call, s, 1, &[id], &[], [0; 4]),
                )
            }
        }
        Prog::Server { resume } => {
            let got = if resume.is_some() || r.info == 0 {
                None
            } else {
                let info = MessageInfo::unpack(r.info).ok_or("bad info")?;
                info.resume.then_some(r.data[0])
            };
            match got {
                Some(id) => (
                    Prog::Server { resume: None },
                    inv(InvocationKind::Return, 3, 0, &[id], &[], [0, 0, 0, 3]),
                ),
                None => (
                    Prog::Server { resume: None },
                    inv(InvocationKind::Return, 0, 0, &[], &[], [0, 0, 0, 3]),
                ),
            }
        }
    };
    progs.lock().unwrap().insert(me, next);
    regs.load(&i);
    if rng.next().is_multiple_of(16) {
        h.k.timer_tick(cpu.id);
    }
    h.k.syscall_framed(cpu, regs);
    Ok(())
}

#[test]
fn clients_and_servers_on_real_threads_under_halts() {
    let threads = 3;
    let mut h = H::new(threads + 1, 8, 100, 4);
    let mut progs = BTreeMap::new();
    let servers: Vec<Cap> = (0..SERVERS).map(|_| h.process(2)).collect();
    for s in &servers {
        progs.insert(s.obj, Prog::Server { resume: None });
        h.start(*s);
    }
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let p = h.process((c % 3) as u64);
        for (k, s) in servers.iter().enumerate() {
            let ep = h.endpoint(*s, c as u64 + 1);
            h.give(p, 10 + k as u8, ep, Rights::ALL);
        }
        progs.insert(
            p.obj,
            Prog::Client {
                left: CALLS,
                pending: None,
                next_id: (c as u64) << 32,
            },
        );
        h.start(p);
        clients.push(p);
    }
    let progs = Mutex::new(progs);
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut cpus: Vec<Cpu> = std::mem::take(&mut h.cpus);
    let mut halter_cpu = cpus.pop().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let hr = &h;
    let results: Vec<(Cpu, Result<(), String>)> = std::thread::scope(|sc| {
        let workers: Vec<_> = cpus
            .into_iter()
            .enumerate()
            .map(|(i, mut cpu)| {
                let (progs, done, stop) = (&progs, &done, &stop);
                sc.spawn(move || {
                    let mut regs = ModelRegs::default();
                    let mut rng = Xs(0x9e37_79b9 + i as u64);
                    while !stop.load(Ordering::SeqCst) {
                        if let Err(e) = step(hr, &mut cpu, &mut regs, progs, done, &mut rng) {
                            stop.store(true, Ordering::SeqCst);
                            return (cpu, Err(e));
                        }
                    }
                    hr.k.interrupted_framed(&mut cpu, &mut regs, None);
                    (cpu, Ok(()))
                })
            })
            .collect();
        let mut rng = Xs(77);
        // The halter is the only one that halts: a client it has not halted is live and not
        // halted, so HALT must succeed, and RESUME must succeed exactly on those it halted.
        let mut halted = [false; CLIENTS];
        let mut halter = |c: usize, o: u32| -> Result<(), String> {
            let r = hr.k.kernel_invoke(&mut halter_cpu, clients[c], o, &[], &[]);
            let want_ok = (o == order::process::HALT) != halted[c];
            match (r, want_ok) {
                (Ok(_), true) => {
                    halted[c] = o == order::process::HALT;
                    Ok(())
                }
                (Err(Error::BadState), false) => Ok(()),
                (r, _) => Err(format!(
                    "order {o} on client {c} (halted by the test: {}) gave {r:?}",
                    halted[c]
                )),
            }
        };
        let mut failure = None;
        while done.load(Ordering::SeqCst) < CLIENTS
            && !stop.load(Ordering::SeqCst)
            && Instant::now() < deadline
            && failure.is_none()
        {
            let c = (rng.next() % CLIENTS as u64) as usize;
            let o = if rng.next().is_multiple_of(2) {
                order::process::HALT
            } else {
                order::process::RESUME
            };
            let mut r = halter(c, o);
            if r.is_ok() && o == order::process::HALT && rng.next().is_multiple_of(2) {
                r = halter(c, order::process::RESUME);
            }
            std::thread::sleep(Duration::from_micros(50));
            if r.is_ok() && rng.next().is_multiple_of(4) {
                r = (0..CLIENTS).try_for_each(|c| halter(c, order::process::RESUME));
            }
            failure = r.err();
        }
        if failure.is_none() {
            failure = (0..CLIENTS)
                .try_for_each(|c| halter(c, order::process::RESUME))
                .err();
        }
        stop.store(true, Ordering::SeqCst);
        if let Some(e) = failure {
            panic!("a HALT or RESUME went wrong: {e}");
        }
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
    cpus.push(halter_cpu);
    assert_eq!(
        done.load(Ordering::SeqCst),
        CLIENTS,
        "not every client finished its calls in time"
    );
    h.cpus = cpus;
    h.k.check_invariants(&h.cpus).unwrap();
}
