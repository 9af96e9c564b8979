//! The user runtime across VPs (`tessera-tasks`: VPs are processes of the bench's space): a
//! full/empty hand-off between a chore on VP 0 and one on VP 1, each hand-off waking a VP that
//! waits in the kernel (a POST to it, a process switch, its listener restarting the chore); a
//! contended spin-suspend lock handed between chores on two VPs; and a channel between tasks
//! (a helper in another address space sending through a shared ring) to a suspended receiver;
//! and a chore's non-blocking CALL to a held echo: WOULDBLOCK, the chore suspended, echo
//! released by another chore, the kernel's NOTIFIED POST to the idle VP, the retry's reply.
//!
//! `scaling` runs the demo's parallel search (`tessera_tasks::demo`) on 1, 2 and 4 VPs, one
//! per CPU, for `cargo xtask bench --scaling`, which gives the speed-ups as ratios of one run.
//!
//! Guarantees: the figure is per hand-off, measured by the chore on VP 0, less the empty
//! loop's cost; a run where the partner did not stay on VP 1 is reported as a failure.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use tessera_runtime::{Ctx, FeWord, Ordinary, PoolConfig, SpinSuspendLock, TaskId};
use tessera_tasks::{Task, TaskConfig};
use tessera_user::{caps, println, slots, tsc};

use crate::measure::{from_total, PerOp};

const ITERATIONS: u64 = 500;

fn cross_vp_handoff(
    ctx: &mut Ctx<Ordinary>,
    rt: tessera_runtime::Runtime,
) -> Result<PerOp, String> {
    let (ping, pong) = (
        Arc::new(FeWord::empty_cell()),
        Arc::new(FeWord::empty_cell()),
    );
    let (a, b) = (ping.clone(), pong.clone());
    let stayed = Arc::new(FeWord::empty_cell());
    let (s, failed) = (stayed.clone(), stayed.clone());
    rt.remote(1, move |l| {
        let spawned = l.spawn(move |c| {
            c.bind_to_vp();
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
    ctx.bind_to_vp();
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

/// Two chores on two VPs taking turns on one spin-suspend lock: each unlock hands the lock to
/// the other, suspended, chore (first waiter first), whose VP the kernel then runs.
fn lock_handoff(ctx: &mut Ctx<Ordinary>, rt: tessera_runtime::Runtime) -> Result<PerOp, String> {
    let lock = Arc::new(SpinSuspendLock::new(0u64));
    let started = Arc::new(FeWord::empty_cell());
    let done = Arc::new(FeWord::empty_cell());
    let (l, s, d) = (lock.clone(), started.clone(), done.clone());
    let (no_start, no_done) = (started.clone(), done.clone());
    rt.remote(1, move |listener| {
        let spawned = listener.spawn(move |c| {
            c.bind_to_vp();
            let mut guard = l.lock(c);
            s.write_f(1);
            // Go on only once the measurer waits for the lock, giving it the CPU meanwhile
            // (on one CPU its VP runs only when this one's process yields).
            while l.waiting() == 0 {
                let _ = caps::yield_now(slots::SELF);
            }
            for _ in 0..ITERATIONS {
                *guard += 1;
                drop(guard);
                guard = l.lock(c);
            }
            drop(guard);
            d.write_f(1);
        });
        if spawned.is_err() {
            no_done.write_f(0);
            no_start.write_f(1);
        }
    });
    ctx.bind_to_vp();
    started.read_ff(ctx);
    let start = tsc::now();
    let mut guard = lock.lock(ctx);
    let (mut last, mut alternated) = (*guard, 0);
    for _ in 0..ITERATIONS {
        *guard += 1;
        drop(guard);
        guard = lock.lock(ctx);
        // The partner took the lock in between exactly when it added one too.
        alternated += u64::from(*guard == last + 2);
        last = *guard;
    }
    drop(guard);
    let total = tsc::now().wrapping_sub(start);
    if done.read_ff(ctx) != 1 || *lock.lock(ctx) != 2 * ITERATIONS {
        return Err(String::from("the lock's count is wrong"));
    }
    // The partner's last relock ends its loop without an addition.
    if alternated + 1 < ITERATIONS {
        return Err(format!(
            "the lock changed hands in only {alternated} of {ITERATIONS} rounds"
        ));
    }
    // Each of our rounds is two hand-offs: to the partner and back.
    Ok(from_total(total, 2 * ITERATIONS))
}

const RING_PAGE: u8 = 55;
const SENDER_BASE: u8 = 52;
const NOTIFY_EP: u8 = 56;
const HOME_RING_VA: usize = 0x20_0000_0000;

/// A channel between tasks with a suspended receiver: a helper process in another address
/// space sends through an 8-message ring in a shared page; the task's chore receives each,
/// suspending on the empty ring until the helper's notification POST reaches its VP.
fn across_tasks(priority: u64) -> Result<PerOp, String> {
    use tessera_suite::ring_sender;
    use tessera_user::abi::{CapType, Rights};
    let rw = Rights::READ.union(Rights::WRITE);
    caps::create(slots::BANK, CapType::Page, RING_PAGE).map_err(|e| format!("ring page: {e:?}"))?;
    let r = (|| -> Result<PerOp, String> {
        caps::zero_page(RING_PAGE).map_err(|e| format!("zero: {e:?}"))?;
        caps::map(slots::task::SPACE, HOME_RING_VA as u64 >> 12, RING_PAGE, rw)
            .map_err(|e| format!("map: {e:?}"))?;
        // SAFETY: a fresh zeroed page mapped read-write here, shared only with the sender.
        let mut rx = unsafe { tessera_runtime::shared_channel(HOME_RING_VA, 8) };
        let sender = tessera_suite::spawn::spawn_code(
            SENDER_BASE,
            ring_sender::code(),
            0,
            ITERATIONS,
            priority,
            slots::ECHO,
        )
        .map_err(|e| format!("spawn the sender: {e:?}"))?;
        caps::map(sender.space(), ring_sender::RING_VA >> 12, RING_PAGE, rw)
            .map_err(|e| format!("map there: {e:?}"))?;
        let task = Task::new(config(1, priority))?;
        task.endpoint_to_vp(0, 0, NOTIFY_EP)
            .map_err(|e| format!("endpoint: {e:?}"))?;
        caps::set_cap(
            sender.process(),
            ring_sender::NOTIFY_SLOT,
            NOTIFY_EP,
            Rights::ALL,
        )
        .map_err(|e| format!("give: {e:?}"))?;
        caps::resume(sender.process()).map_err(|e| format!("start the sender: {e:?}"))?;
        let result = task.run(move |c| {
            let start = tsc::now();
            for i in 0..ITERATIONS {
                if rx.recv(c).data[0] != i {
                    return Err(String::from("a message came out of order"));
                }
            }
            Ok(from_total(tsc::now().wrapping_sub(start), ITERATIONS))
        });
        drop(sender);
        result.and_then(|(r, _)| r)
    })();
    let _ = caps::destroy(slots::BANK, RING_PAGE);
    r
}

/// VP slot for echo's resume capability while a chore holds it.
const HELD_RESUME: u8 = tessera_tasks::slots::GIVEN.start;
const RETRIES: u64 = 200;

/// Makes echo busy: it CALLs this VP (`HOLD`) and waits for the answer. The VP takes that
/// CALL at once, blocking in the kernel (setup, not measured).
fn hold_echo() -> Result<(), String> {
    use tessera_user::abi::message::InvocationKind;
    use tessera_user::{echo, invoke};
    let vp0 = tessera_tasks::slots::vp_endpoint(0);
    invoke::send(slots::ECHO, echo::HOLD, &[], &[vp0]).map_err(|e| format!("HOLD: {e:?}"))?;
    loop {
        let m = invoke::raw(
            InvocationKind::Return,
            0,
            0,
            &[],
            &[],
            [0, 0, 0, HELD_RESUME],
        )
        .map_err(|e| format!("take HELD: {e:?}"))?;
        if m.order() == echo::HELD {
            return Ok(());
        }
    }
}

/// WOULDBLOCK → notification → retry against a stalled CALL, on one VP: per round, from the
/// non-blocking CALL to the retried CALL's reply (a chore releasing echo in between, the VP
/// idling in the kernel until the NOTIFIED POST, the listener restarting the caller).
fn wouldblock_retry(ctx: &mut Ctx<Ordinary>) -> Result<PerOp, String> {
    use tessera_tasks::KernelCall;
    use tessera_user::{echo, invoke};
    let go = Arc::new(FeWord::empty_cell());
    let g = go.clone();
    let releaser = ctx
        .spawn(move |c| {
            for _ in 0..RETRIES {
                g.read_fe(c);
                let _ = invoke::send(HELD_RESUME, 0, &[], &[]);
            }
        })
        .map_err(|e| format!("{e:?}"))?;
    let (mut total, mut tries) = (0, 0);
    for i in 0..RETRIES {
        hold_echo()?;
        let start = tsc::now();
        go.write_ef(ctx, 1);
        let data = [i];
        let mut call = KernelCall::call(slots::ECHO, echo::PLUS_ONE, &data);
        let answer = ctx.call_nonblocking(&mut call);
        total += tsc::now().wrapping_sub(start);
        tries += u64::from(call.tries);
        if answer.map(|m| m.data[0]) != Ok(i + 1) {
            return Err(format!("echo answered {answer:?} to {i}"));
        }
    }
    releaser.join(ctx);
    if tries != 2 * RETRIES {
        return Err(format!("{tries} tries in {RETRIES} rounds, not two each"));
    }
    Ok(from_total(total, RETRIES))
}

fn config(vps: usize, priority: u64) -> TaskConfig {
    TaskConfig {
        task: TaskId::new(11).unwrap_or_else(|| unreachable!()),
        vps,
        chunk_pages: 2,
        max_chunks: 2,
        chunks: 8,
        slots: 64,
        dense_bytes: 0,
        pool: PoolConfig {
            low_water: 1,
            refill: 2,
            reserve: 1,
        },
        quota: 100,
        priority,
    }
}

type Case = fn(&mut Ctx<Ordinary>, tessera_runtime::Runtime) -> Result<PerOp, String>;

/// Runs each case in a fresh two-VP task and prints its line.
pub fn run() {
    let priority = caps::info(slots::SELF).map_or(1, |i| u64::from(i.priority));
    let cases: [(&str, Case); 2] = [
        ("chore_cross_vp_handoff", cross_vp_handoff),
        ("chore_lock_handoff_cross_vp", lock_handoff),
    ];
    for (name, case) in cases {
        let result = Task::new(config(2, priority)).and_then(|task| {
            let rt = task.runtime().clone();
            task.run(move |ctx| case(ctx, rt)).and_then(|(r, _)| r)
        });
        match result {
            Ok(p) => println!("bench: {name} {p}"),
            Err(e) => println!("bench {name} failed: {e}"),
        }
    }
    let result = Task::new(config(1, priority))
        .and_then(|task| task.run(wouldblock_retry).and_then(|(r, _)| r));
    match result {
        Ok(p) => println!("bench: chore_wouldblock_retry {p}"),
        Err(e) => println!("bench chore_wouldblock_retry failed: {e}"),
    }
    match across_tasks(priority) {
        Ok(p) => println!("bench: chore_channel_across_tasks {p}"),
        Err(e) => println!("bench chore_channel_across_tasks failed: {e}"),
    }
}

/// Chores alive at once in `chores_alive`.
const ALIVE: usize = 100_000;
/// Their dense stack chunks: the control block, the closure and the chore's frames while it
/// waits fit in 1.5 KiB.
const ALIVE_CHUNK: usize = 1536;

/// `ALIVE` chores alive at once in one task of `vps` VPs, each blocked on one wait queue,
/// then all released and finished. Their chunks are mapped on demand from the task's bank
/// (the task starts with 64). Returns the chores seen alive, blocked and finished, and the
/// pages the task mapped (its VPs' stacks included).
fn chores_alive(vps: usize, priority: u64) -> Result<([usize; 3], usize), String> {
    let mut config = config(vps, priority);
    config.dense_bytes = ALIVE_CHUNK;
    config.chunks = 64;
    config.slots = ALIVE + 64;
    config.pool = PoolConfig {
        low_water: 4,
        refill: 16,
        reserve: 2,
    };
    config.quota = 44 * 1024;
    let task = Task::new(config)?;
    let rt = task.runtime().clone();
    let (seen, report) = task.run(move |c| tessera_suite::tasks::alive_at_once(c, &rt, ALIVE))?;
    Ok((seen, report.pages))
}

/// `scale: chores_alive <bytes per chore> <chores>`: the task's mapped memory over `ALIVE`
/// chores alive at once on `vps` VPs.
pub fn scale(vps: usize) {
    let priority = caps::info(slots::SELF).map_or(1, |i| u64::from(i.priority));
    match chores_alive(vps, priority) {
        Ok(([alive, blocked, finished], pages))
            if alive == ALIVE && blocked == ALIVE && finished == ALIVE =>
        {
            println!(
                "scale: chores_alive {} {ALIVE} ({pages} pages on {vps} VPs)",
                pages * 4096 / ALIVE
            );
        }
        Ok(([alive, blocked, finished], _)) => println!(
            "scale chores_alive failed: {alive} alive, {blocked} blocked, {finished} finished of {ALIVE}"
        ),
        Err(e) => println!("scale chores_alive failed: {e}"),
    }
}

/// `scaling: demo_search_<n> <numbers searched per second> <numbers>` for 1, 2 and 4 VPs (as
/// far as `cpus` goes).
pub fn scaling(cpus: u8, tsc_hz: u64) {
    tessera_user::clock::set_tsc_hz(tsc_hz);
    let priority = caps::info(slots::SELF).map_or(1, |i| u64::from(i.priority));
    for n in [1usize, 2, 4]
        .into_iter()
        .filter(|&n| n <= usize::from(cpus).max(1))
    {
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
