//! fuzz: the hostile-program fuzzer. Started by init in fuzz mode (`test=fuzz seed=S count=C`
//! on the kernel command line) with its campaign (`abi::boot::FuzzArg`) as argument word.
//!
//! The controller (this process) starts, in its own address space, a receiver, a few servers
//! and two workers per CPU ([`client`]), all making seeded random invocations until `count` are
//! made in all. Meanwhile it watches them: a worker stuck in a wait nobody will end is halted
//! and resumed (a CALL then ends with `Halted`), running workers are halted and resumed at
//! random, and no fuzzer process may be found halted unless it halted itself at the end.
//!
//! Guarantees: it prints a progress line every tenth of the campaign (at most every 200,000
//! invocations) and ends with one line
//! `fuzz: seed S: N invocations, P posts checked, ...: pass|FAIL (why)`, then shuts the machine
//! down with that verdict. The checks: every sequence-numbered POST arrived exactly once and in
//! order; no fuzzer process was halted by anyone but the controller; a halt was never lost
//! (RESUME after a successful HALT works); every destroy of a tracked object worked, and the
//! tracked bank's quota and object count are back where they started.
#![no_std]
#![no_main]

mod client;
mod layout;
mod random;
mod rng;
mod server;
mod shared;
mod victims;

use core::sync::atomic::Ordering::Relaxed;
use layout::*;
use shared::{Failure, MAX_CLIENTS, SHARED};
use tessera_user::abi::boot::FuzzArg;
use tessera_user::abi::{CapType, Error, ProcessState, Rights};
use tessera_user::{caps, console, entry, println, slots, tsc};

entry!(main);

/// The controller's slots.
const RANDOM_B: u8 = slots::FREE;
const TRACKED_B: u8 = slots::FREE + 1;
const TMP: u8 = slots::FREE + 2;
const RECEIVER_P: u8 = slots::FREE + 3;
/// Servers' processes from here, then the workers'.
const PROCESSES: u8 = slots::FREE + 4;
/// The controller's endpoints to the workers (to nudge one out of an open wait), from here.
const NUDGES: u8 = 40;

/// Stack pages of each fuzzer process, and where the stacks are mapped (with a gap between).
const STACK_PAGES: u64 = 16;
const STACK_VPN: u64 = 0x50_0000_0000 / 4096;

/// Quota of each of the two banks the workers get.
const QUOTA: u64 = 160;

/// TSC ticks (about a quarter of a second on the hosts QEMU runs on) a worker may go without
/// an invocation before it is counted stuck: longer than a few scheduling quanta behind the
/// other processes of its CPU.
const STUCK_TICKS: u64 = 500_000_000;
/// TSC ticks (some ten seconds) allowed after the stop for the workers to clean up and for
/// POSTs to arrive.
const FINISH_TICKS: u64 = 20_000_000_000;

struct Verdict {
    ok: bool,
    lost_halts: u64,
    unexpected_halts: u64,
    stuck_resumed: u64,
    random_halts: u64,
}

impl Verdict {
    fn fail(&mut self, why: core::fmt::Arguments) {
        if self.ok {
            println!("fuzz: FAILED: {why}");
        }
        self.ok = false;
    }
}

fn main(arg: u64) {
    let f = FuzzArg::unpack(arg);
    let cpus = f.cpus.max(1) as u64;
    let servers = cpus.clamp(2, MAX_SERVERS as u64) as u8;
    let clients = (2 * cpus).clamp(3, MAX_CLIENTS as u64 - 4) as u8;
    println!(
        "fuzz: seed {} count {} on {} CPU(s): {} workers, {} servers, a receiver",
        f.seed, f.count, cpus, clients, servers
    );
    let ok = match start(&f, servers, clients) {
        Ok(start_quota) => watch(&f, servers, clients, start_quota),
        Err(e) => {
            println!("fuzz: FAILED: could not start the workers: {e:?}");
            false
        }
    };
    let e = console::shutdown(ok);
    println!("fuzz: could not shut down: {e:?}");
}

/// Makes the banks and starts every fuzzer process; returns the tracked bank's accounting.
fn start(f: &FuzzArg, servers: u8, clients: u8) -> Result<(u64, u64), Error> {
    caps::set_priority(slots::SELF, PRIORITY)?;
    caps::create_bank(slots::BANK, QUOTA, RANDOM_B)?;
    caps::create_bank(slots::BANK, QUOTA, TRACKED_B)?;
    let start_quota = caps::available(TRACKED_B)?;
    let seed = (f.seed as u64) << 32;
    spawn(RECEIVER_P, 0, server::receiver, 0, PRIORITY + 1)?;
    for s in 0..servers {
        let p = PROCESSES + s;
        spawn(p, 1 + s as u64, server::main, seed | s as u64, PRIORITY)?;
        caps::set_cap(p, RANDOM_BANK, RANDOM_B, Rights::ALL)?;
    }
    for c in 0..clients {
        let p = PROCESSES + servers + c;
        let w = c as u64 | (servers as u64) << 8 | seed;
        spawn(p, 1 + (servers + c) as u64, client::main, w, PRIORITY)?;
        caps::set_cap(p, SELF, p, Rights::ALL)?;
        caps::set_cap(p, RANDOM_BANK, RANDOM_B, Rights::ALL)?;
        caps::set_cap(p, TRACKED_BANK, TRACKED_B, Rights::ALL)?;
        caps::make_endpoint(RECEIVER_P, c as u64, TMP)?;
        caps::set_cap(p, RECEIVER, TMP, Rights::ALL)?;
        for s in 0..servers {
            caps::make_endpoint(PROCESSES + s, 0x5e00 | s as u64, TMP)?;
            caps::set_cap(p, SERVERS + s, TMP, Rights::ALL)?;
        }
        caps::make_endpoint(p, 0x5e1f, NUDGES + c)?;
        caps::set_cap(p, SELF_ENDPOINT, NUDGES + c, Rights::ALL)?;
        tessera_user::nonblocking::set_notify(p, NUDGES + c, c as u64)?;
    }
    for p in [RECEIVER_P]
        .into_iter()
        .chain(PROCESSES..PROCESSES + servers + clients)
    {
        caps::resume(p)?;
    }
    Ok(start_quota)
}

/// A halted process in this space running `entry(arg)` on a stack of its own (number `n`),
/// into slot `p`.
fn spawn(
    p: u8,
    n: u64,
    entry: extern "C" fn(u64) -> !,
    arg: u64,
    priority: u64,
) -> Result<(), Error> {
    let top = STACK_VPN + n * 2 * STACK_PAGES;
    for i in 1..=STACK_PAGES {
        caps::create(slots::BANK, CapType::Page, TMP)?;
        caps::map(
            slots::fuzz::SPACE,
            top - i,
            TMP,
            Rights::READ.union(Rights::WRITE),
        )?;
    }
    caps::create(slots::BANK, CapType::Process, p)?;
    caps::set_space(p, slots::fuzz::SPACE)?;
    // As if called: the stack is 16-byte aligned before the return address.
    caps::set_entry(p, entry as usize as u64, top * 4096 - 8, arg)?;
    caps::set_priority(p, priority)
}

/// Watches the campaign to its end; returns the verdict.
fn watch(f: &FuzzArg, servers: u8, clients: u8, start_quota: (u64, u64)) -> bool {
    let mut v = Verdict {
        ok: true,
        lost_halts: 0,
        unexpected_halts: 0,
        stuck_resumed: 0,
        random_halts: 0,
    };
    let mut rng = rng::Rng::new(f.seed, 0x300);
    // Often enough that xtask can tell a long campaign that stopped printing from a slow one.
    let step = (f.count / 10).clamp(1, 200_000);
    let mut next_progress = step;
    let mut last = [u64::MAX; MAX_CLIENTS];
    let mut since = [tsc::now(); MAX_CLIENTS];
    let mut reported = [false; MAX_CLIENTS];
    let mut stopped_at = None;
    loop {
        for _ in 0..3 {
            let _ = caps::yield_now(slots::SELF);
        }
        let total = SHARED.invocations.load(Relaxed);
        if total >= next_progress {
            next_progress = total - total % step + step;
            let mut states = [0u32; 5];
            for c in 0..clients {
                if let Ok(i) = caps::info(PROCESSES + servers + c) {
                    states[i.state as usize] += 1;
                }
            }
            let mut others = [(ProcessState::Halted, 0u64); 1 + MAX_SERVERS as usize];
            for (o, p) in others.iter_mut().zip(
                [RECEIVER_P]
                    .into_iter()
                    .chain(PROCESSES..PROCESSES + servers),
            ) {
                if let Ok(i) = caps::info(p) {
                    *o = (i.state, i.invocations);
                }
            }
            println!(
                "fuzz: {total} invocations ({} served), {} posts, {} victims, {} objects made, {} out of quota; \
                 workers running/available/waiting/stalled/halted {states:?}; receiver, servers {:?}",
                SHARED.served.load(Relaxed),
                posts_received(),
                SHARED.victims.load(Relaxed),
                SHARED.created.load(Relaxed),
                SHARED.out_of_quota.load(Relaxed),
                &others[..1 + servers as usize]
            );
        }
        if total >= f.count {
            SHARED.stop.store(true, Relaxed);
        }
        for c in 0..clients as usize {
            let p = PROCESSES + servers + c as u8;
            let Ok(info) = caps::info(p) else { continue };
            if SHARED.done[c].load(Relaxed) {
                continue;
            }
            if info.state == ProcessState::Halted {
                // The controller resumes every worker it halts before it looks again.
                v.unexpected_halts += 1;
                if !reported[c] {
                    reported[c] = true;
                    v.fail(format_args!(
                        "worker {c} (process {}) was found halted",
                        info.pid
                    ));
                }
                let _ = caps::resume(p);
                continue;
            }
            let inv = info.invocations;
            if inv != last[c] {
                last[c] = inv;
                since[c] = tsc::now();
            }
            if tsc::now().wrapping_sub(since[c]) > STUCK_TICKS {
                since[c] = tsc::now();
                v.stuck_resumed += 1;
                if v.stuck_resumed <= 12 {
                    report_others(servers);
                    println!(
                        "fuzz: worker {c} (process {}) made no invocation for {STUCK_TICKS} TSC ticks, {} owning {:?}, phase {:#x}",
                        info.pid,
                        info.state.name(),
                        info.owns,
                        SHARED.phase[c].load(Relaxed)
                    );
                }
                if info.state == ProcessState::Available {
                    let _ = tessera_user::invoke::post(NUDGES + c as u8, NUDGE, 0);
                } else {
                    halt_and_resume(&mut v, c, p);
                }
            }
        }
        if !SHARED.stop.load(Relaxed) && clients > 0 {
            let c = rng.below(clients as u64) as usize;
            v.random_halts += 1;
            halt_and_resume(&mut v, c, PROCESSES + servers + c as u8);
        }
        for p in [RECEIVER_P]
            .into_iter()
            .chain(PROCESSES..PROCESSES + servers)
        {
            if caps::info(p).is_ok_and(|i| i.state == ProcessState::Halted) {
                v.unexpected_halts += 1;
                v.fail(format_args!(
                    "server or receiver in slot {p} was found halted"
                ));
                let _ = caps::resume(p);
            }
        }
        if SHARED.stop.load(Relaxed) {
            let all_done = (0..clients as usize).all(|c| SHARED.done[c].load(Relaxed));
            let delivered = (0..clients as usize)
                .all(|c| SHARED.sent[c].load(Relaxed) == SHARED.received[c].load(Relaxed));
            if all_done && delivered {
                break;
            }
            let since = *stopped_at.get_or_insert_with(tsc::now);
            if tsc::now().wrapping_sub(since) > FINISH_TICKS {
                v.fail(format_args!(
                    "after the stop, workers done: {all_done}, every POST delivered: {delivered}"
                ));
                break;
            }
        }
    }
    for p in [RECEIVER_P]
        .into_iter()
        .chain(PROCESSES..PROCESSES + servers)
    {
        let _ = caps::halt(p);
    }
    judge(&mut v, f, clients, start_quota);
    v.ok
}

/// Prints the receiver's and the servers' states, beside a stuck worker's report.
fn report_others(servers: u8) {
    for p in [RECEIVER_P]
        .into_iter()
        .chain(PROCESSES..PROCESSES + servers)
    {
        if let Ok(i) = caps::info(p) {
            println!(
                "fuzz:   process {} is {} owning {:?}, {} invocations",
                i.pid,
                i.state.name(),
                i.owns,
                i.invocations
            );
        }
    }
}

/// Halts worker `c` and resumes it: a HALT that worked must leave it halted for the RESUME.
fn halt_and_resume(v: &mut Verdict, c: usize, p: u8) {
    match caps::halt(p) {
        Ok(()) => {
            if let Err(e) = caps::resume(p) {
                v.lost_halts += 1;
                v.fail(format_args!(
                    "worker {c}: RESUME after a HALT that worked failed with {e:?} (a lost halt)"
                ));
            }
        }
        // It finished and halted itself meanwhile.
        Err(Error::BadState) if SHARED.done[c].load(Relaxed) => {}
        Err(e) => v.fail(format_args!("worker {c}: HALT failed with {e:?}")),
    }
}

fn posts_received() -> u64 {
    SHARED.received.iter().map(|r| r.load(Relaxed)).sum()
}

/// The checks at the end, and the final line.
fn judge(v: &mut Verdict, f: &FuzzArg, clients: u8, start_quota: (u64, u64)) {
    for c in 0..clients as usize {
        let (sent, received) = (
            SHARED.sent[c].load(Relaxed),
            SHARED.received[c].load(Relaxed),
        );
        if sent != received {
            v.fail(format_args!(
                "worker {c} had {sent} POSTs accepted but the receiver took {received}"
            ));
        }
    }
    let names = [
        "a sequence-numbered POST out of order or twice",
        "a tracked DESTROY failed",
        "starting a victim failed",
    ];
    for kind in [Failure::PostOrder, Failure::Destroy, Failure::Setup] {
        let n = SHARED.failures[kind as usize].load(Relaxed);
        if n > 0 {
            let detail = SHARED.detail[kind as usize].load(Relaxed);
            v.fail(format_args!(
                "{n} times {} (first: {detail:#x})",
                names[kind as usize]
            ));
        }
    }
    match caps::available(TRACKED_B) {
        Ok(now) if now == start_quota => {}
        now => v.fail(format_args!(
            "the tracked bank was (free, objects) {start_quota:?} and is {now:?}"
        )),
    }
    let random = caps::available(RANDOM_B);
    println!(
        "fuzz: {} objects made and {} destroyed, {} victims; random bank (free, objects) {random:?}; \
         {} stuck workers freed, {} random halts, {} unexpected halts, {} lost halts",
        SHARED.created.load(Relaxed),
        SHARED.destroyed.load(Relaxed),
        SHARED.victims.load(Relaxed),
        v.stuck_resumed,
        v.random_halts,
        v.unexpected_halts,
        v.lost_halts
    );
    println!(
        "fuzz: the servers and the receiver made {} invocations answering",
        SHARED.served.load(Relaxed)
    );
    println!(
        "fuzz: seed {}: {} invocations, {} posts checked: {}",
        f.seed,
        SHARED.invocations.load(Relaxed),
        posts_received(),
        if v.ok { "pass" } else { "FAIL" }
    );
}
