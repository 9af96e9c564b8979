//! Every lock class, full/empty cell operation and channel receive mode of the user runtime
//! under contention across the VPs of one ring-3 task (`tessera-tasks`: on 4 CPUs a VP per CPU,
//! on 1 CPU four VPs taking turns on it, preempted by the kernel): mutual exclusion,
//! first-waiter-first hand-off, every value passed once, a full channel refusing and losing
//! nothing, one message waking one suspended receiver. The host runs the same on threads
//! (`user/runtime/tests/locks.rs`); here a VP is a process that waits in the kernel when it
//! has nothing to run and is woken by a POST.
//!
//! Guarantees: each check names what it saw when it fails; every chore is joined before the
//! task ends. Chores are spread over the VPs round robin (`Runtime::spawn`), but an idle VP
//! may steal them all before the others wake, so each check prints the VPs its chores ran on
//! and only the whole test requires more than one.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

use tessera_runtime::{
    channel, ChannelId, ChoreState, Ctx as ChoreCtx, ExplicitSuspendLock, FeWord, Full, JoinHandle,
    Message, Ordinary, Runtime, SpinLock, SpinSuspend, SpinSuspendLock, Suspend, TaskId, WaitQueue,
};
use tessera_tasks::Task;

use crate::tester::{ensure, Outcome};
use crate::Ctx;
use tessera_user::println;

const VPS: usize = 4;
const CHORES: u64 = 8;
const ROUNDS: u64 = 200;

/// A counter that is not atomic: only the lock makes the increments add up.
fn bump(v: &mut u64) {
    let x = core::hint::black_box(*v);
    *v = x + 1;
}

/// The VPs chores ran on (bit i: VP i) and the order they logged themselves in.
#[derive(Default)]
struct Seen {
    vps: AtomicU64,
    order: [AtomicU64; 16],
    logged: AtomicUsize,
}

impl Seen {
    fn ran(&self, c: &ChoreCtx<Ordinary>) {
        self.vps.fetch_or(1 << c.vp(), SeqCst);
    }

    fn log(&self, i: u64) {
        let at = self.logged.fetch_add(1, SeqCst);
        self.order[at % 16].store(i, SeqCst);
    }

    fn order(&self) -> Vec<u64> {
        let n = self.logged.load(SeqCst).min(16);
        self.order[..n].iter().map(|w| w.load(SeqCst)).collect()
    }

    /// Notes the VPs this check's chores ran on, for the test's total.
    fn spread(&self, what: &str) {
        let vps = self.vps.load(SeqCst);
        ALL_VPS.fetch_or(vps, SeqCst);
        println!("usertest note: {what}: chores ran on VPs {vps:#06b}");
    }
}

/// Joins `hs` once every one is done, yielding until then rather than suspending: a VP left
/// with nothing to run would steal the others' chores, and on one CPU could run them all.
fn finish<T>(c: &mut ChoreCtx<Ordinary>, hs: Vec<JoinHandle<T>>) -> Vec<T> {
    while hs.iter().any(|h| h.state() != ChoreState::Done) {
        c.yield_now();
    }
    hs.into_iter().map(|h| h.join(c)).collect()
}

/// `CHORES` chores spread over the VPs, each `ROUNDS` times through `body`; the total `read`
/// gives afterwards must count every round.
fn contend<L: Send + Sync + 'static>(
    c: &mut ChoreCtx<Ordinary>,
    rt: &Runtime,
    what: &str,
    lock: L,
    body: fn(&mut ChoreCtx<Ordinary>, &L, u64),
    read: fn(&mut ChoreCtx<Ordinary>, &L) -> u64,
) -> Result<(), String> {
    let (lock, seen) = (Arc::new(lock), Arc::new(Seen::default()));
    let mut hs = Vec::new();
    for n in 0..CHORES {
        let (l, s) = (lock.clone(), seen.clone());
        let h = rt.spawn(n as usize, move |c| {
            for r in 0..ROUNDS {
                s.ran(c);
                body(c, &l, n * ROUNDS + r);
            }
        });
        hs.push(h.map_err(|e| format!("{what}: spawn: {e:?}"))?);
    }
    finish(c, hs);
    let total = read(c, &lock);
    ensure(total == CHORES * ROUNDS, || {
        format!("{what}: {total} of {} increments", CHORES * ROUNDS)
    })?;
    seen.spread(what);
    Ok(())
}

/// The VPs any check's chores ran on.
static ALL_VPS: AtomicU64 = AtomicU64::new(0);

/// Rounds in which a spin-suspend lock's cell did not name the chore holding it.
static WRONG_HOLDER: AtomicU64 = AtomicU64::new(0);

/// The three lock classes, each with `CHORES` chores on the VPs bumping one counter; the
/// suspending ones hold it across a yield now and then, so the others spin out and suspend.
fn every_lock_class(c: &mut ChoreCtx<Ordinary>, rt: &Runtime) -> Result<(), String> {
    contend(
        c,
        rt,
        "spin lock",
        SpinLock::new(0u64),
        |c, l, _| bump(&mut l.lock(c)),
        |c, l| *l.lock(c),
    )?;
    contend(
        c,
        rt,
        "spin-suspend lock",
        SpinSuspendLock::new(0u64),
        |c, l, i| {
            let mut g = l.lock(c);
            bump(&mut g);
            if i % 8 == 0 {
                c.yield_now();
            }
            if l.holder() != Some(c.id()) {
                WRONG_HOLDER.fetch_add(1, SeqCst);
            }
        },
        |c, l| *l.lock(c),
    )?;
    let wrong = WRONG_HOLDER.swap(0, SeqCst);
    ensure(wrong == 0, || {
        format!("spin-suspend lock: its cell named another holder {wrong} times")
    })?;
    contend(
        c,
        rt,
        "explicit-suspend lock",
        ExplicitSuspendLock::new(0u64),
        |c, l, i| {
            let mut g = l.lock(c);
            bump(&mut g);
            if i % 8 == 0 {
                c.yield_now();
            }
        },
        |c, l| *l.lock(c),
    )
}

/// Spawns `n` chores, one per VP in turn, each running `wait` with its number (which logs
/// what it got while it still holds it: the VPs run in parallel, so a log taken after letting
/// go could come in any order); each is suspended in `wait` before the next is spawned, so
/// they queue in number order.
fn queue_up(
    c: &mut ChoreCtx<Ordinary>,
    rt: &Runtime,
    n: u64,
    seen: &Arc<Seen>,
    wait: impl Fn(&mut ChoreCtx<Ordinary>, u64, &Seen) + Send + Sync + Clone + 'static,
) -> Result<Vec<JoinHandle<()>>, String> {
    let mut hs = Vec::new();
    for i in 0..n {
        let (s, wait) = (seen.clone(), wait.clone());
        let h = rt
            .spawn(i as usize, move |c| {
                s.ran(c);
                wait(c, i, &s);
            })
            .map_err(|e| format!("spawn: {e:?}"))?;
        while h.state() != ChoreState::Suspended {
            c.yield_now();
        }
        hs.push(h);
    }
    Ok(hs)
}

/// The suspending locks and a wait queue wake their waiters first come, first served, the
/// waiters suspended on every VP.
fn first_waiter_first(c: &mut ChoreCtx<Ordinary>, rt: &Runtime) -> Result<(), String> {
    let ss = Arc::new(SpinSuspendLock::new(()));
    let held = ss.lock(c);
    let seen = Arc::new(Seen::default());
    let l = ss.clone();
    let hs = queue_up(c, rt, 4, &seen, move |c, i, s| {
        let _held = l.lock(c);
        s.log(i);
    })?;
    ensure(ss.waiting() == 4, || {
        format!("{} waiters on the spin-suspend lock", ss.waiting())
    })?;
    drop(held);
    finish(c, hs);
    let es = Arc::new(ExplicitSuspendLock::new(()));
    let held = es.lock(c);
    let l = es.clone();
    let hs = queue_up(c, rt, 4, &seen, move |c, i, s| {
        let _held = l.lock(c);
        s.log(i);
    })?;
    drop(held);
    finish(c, hs);
    let q = Arc::new(WaitQueue::new());
    let w = q.clone();
    let hs = queue_up(c, rt, 4, &seen, move |c, i, s| {
        w.block(c);
        s.log(i);
    })?;
    // One at a time, each logged before the next is woken; then the last by unblock_all.
    for woken in 9..12 {
        ensure(q.unblock_one(), || String::from("unblock_one woke nobody"))?;
        while seen.order().len() < woken {
            c.yield_now();
        }
    }
    ensure(q.unblock_all() == 1, || String::from("unblock_all"))?;
    finish(c, hs);
    let order = seen.order();
    let want = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3];
    ensure(order == want, || {
        format!("woken in the order {order:?}, not first come first served")
    })?;
    seen.spread("first waiter first");
    Ok(())
}

/// Four producers and four consumers on the VPs pass 1..=N through one full/empty cell, every
/// value once; `read_ff` waiters all see a value and leave it full; then every other
/// operation on a cell.
fn full_empty_cells(c: &mut ChoreCtx<Ordinary>, rt: &Runtime) -> Result<(), String> {
    const N: u64 = 2000;
    let cell = Arc::new(FeWord::empty_cell());
    let seen = Arc::new(Seen::default());
    let mut consumers = Vec::new();
    let mut producers = Vec::new();
    for p in 0..4u64 {
        let (from, s) = (cell.clone(), seen.clone());
        let h = rt.spawn(p as usize, move |c| {
            s.ran(c);
            (0..N / 4).map(|_| from.read_fe(c)).sum::<u64>()
        });
        consumers.push(h.map_err(|e| format!("spawn: {e:?}"))?);
        let (to, s) = (cell.clone(), seen.clone());
        let h = rt.spawn(p as usize + 1, move |c| {
            s.ran(c);
            (0..N / 4).for_each(|i| to.write_ef(c, 1 + p * (N / 4) + i));
        });
        producers.push(h.map_err(|e| format!("spawn: {e:?}"))?);
    }
    finish(c, producers);
    let sum: u64 = finish(c, consumers).into_iter().sum();
    ensure(sum == N * (N + 1) / 2 && !cell.is_full(), || {
        format!("the consumers got a sum of {sum}, not {}", N * (N + 1) / 2)
    })?;
    seen.spread("full/empty cells");
    let readers: Vec<_> = (0..8)
        .map(|i| {
            let cell = cell.clone();
            rt.spawn(i, move |c| cell.read_ff(c))
                .map_err(|e| format!("spawn: {e:?}"))
        })
        .collect::<Result<_, _>>()?;
    while cell.waiters() < 8 {
        c.yield_now();
    }
    cell.write_f(42);
    let got = finish(c, readers);
    ensure(got == [42; 8] && cell.peek() == (42, true), || {
        format!("read_ff waiters got {got:?}, the cell is {:?}", cell.peek())
    })?;
    let taken = cell.read_fe(c);
    let again = cell.try_read_fe();
    let written = cell.try_write_ef(7);
    let refused = cell.try_write_ef(8);
    let kept = cell.try_read_ff();
    cell.empty();
    ensure(
        taken == 42
            && again.is_none()
            && written.is_ok()
            && refused == Err(8)
            && kept == Some(7)
            && !cell.is_full(),
        || {
            format!("read_fe {taken}, try_read_fe {again:?}, try_write_ef {written:?} then {refused:?}, try_read_ff {kept:?}")
        },
    )
}

fn msg(c: &ChoreCtx<Ordinary>, n: u64) -> Message {
    Message::new(c.id(), 1, [n, 0, 0, 0, 0, 0])
}

/// A full channel refuses a send and loses nothing; receivers on the VPs in every mode
/// (SUSPEND, SPIN_SUSPEND, polling) take 1..=N, each message once; one message wakes exactly
/// one of three suspended receivers.
fn channels(c: &mut ChoreCtx<Ordinary>, rt: &Runtime) -> Result<(), String> {
    const N: u64 = 3000;
    let id = |index| ChannelId {
        owner: TaskId::new(10).unwrap_or_else(|| unreachable!()),
        index,
    };
    let (tx, rx) = channel(id(1), 3);
    for n in 0..3 {
        tx.send(msg(c, n))
            .map_err(|_| String::from("a channel of 3 refused its first 3"))?;
    }
    let refused = msg(c, 99);
    ensure(tx.send(refused) == Err(Full(refused)), || {
        String::from("a full channel took a fourth message")
    })?;
    let got: Vec<u64> = (0..3)
        .filter_map(|_| rx.try_recv())
        .map(|m| m.data[0])
        .collect();
    ensure(got == [0, 1, 2] && rx.try_recv().is_none(), || {
        format!("a full channel gave back {got:?}")
    })?;
    let (tx, rx) = channel(id(2), 8);
    // The sender is this chore: its messages cross to receivers on other VPs.
    let seen = Arc::new(Seen::default());
    seen.ran(c);
    let receivers: Vec<_> = (0..3u64)
        .map(|mode| {
            let (rx, s) = (rx.clone(), seen.clone());
            rt.spawn(mode as usize + 1, move |c| {
                let mut sum = 0;
                loop {
                    s.ran(c);
                    let m = match mode {
                        0 => rx.recv(c, Suspend),
                        1 => rx.recv(c, SpinSuspend),
                        _ => match rx.try_recv() {
                            Some(m) => m,
                            None => {
                                c.yield_now();
                                continue;
                            }
                        },
                    };
                    if m.header.tag == 0 {
                        return sum;
                    }
                    sum += m.data[0];
                }
            })
            .map_err(|e| format!("spawn: {e:?}"))
        })
        .collect::<Result<_, _>>()?;
    let send = |c: &mut ChoreCtx<Ordinary>, mut m: Message| {
        while let Err(Full(back)) = tx.send(m) {
            m = back;
            c.yield_now();
        }
    };
    for n in 1..=N {
        send(c, msg(c, n));
    }
    for _ in 0..3 {
        send(c, Message::new(c.id(), 0, [0; 6]));
    }
    let sum: u64 = finish(c, receivers).into_iter().sum();
    ensure(sum == N * (N + 1) / 2, || {
        format!("the receivers got a sum of {sum}, not {}", N * (N + 1) / 2)
    })?;
    seen.spread("channel receive modes");
    let (tx, rx) = channel(id(3), 4);
    let seen = Arc::new(Seen::default());
    let r = rx.clone();
    let hs = queue_up(c, rt, 3, &seen, move |c, i, s| {
        let m = r.recv(c, Suspend);
        s.log(i << 8 | m.data[0]);
    })?;
    tx.send(msg(c, 1))
        .map_err(|_| String::from("an empty channel refused"))?;
    while seen.order().is_empty() {
        c.yield_now();
    }
    for _ in 0..10 {
        c.yield_now();
    }
    let woken = seen.order();
    ensure(woken == [1] && rx.waiting() == 2, || {
        format!("one message woke {woken:?}, {} still waiting", rx.waiting())
    })?;
    for n in 2..4 {
        tx.send(msg(c, n))
            .map_err(|_| String::from("a channel of 4 refused"))?;
    }
    finish(c, hs);
    let mut got = seen.order();
    got.sort_unstable();
    ensure(got == [1, 1 << 8 | 2, 2 << 8 | 3], || {
        format!(
            "receiver i << 8 | message: {:?}, not the first waiter the first message",
            seen.order()
        )
    })
}

type Check = fn(&mut ChoreCtx<Ordinary>, &Runtime) -> Result<(), String>;

/// Runs every check in one task of `VPS` VPs.
pub fn locks_cells_and_channels_across_vps(ctx: &Ctx) -> Outcome {
    ALL_VPS.store(0, SeqCst);
    let task = Task::new(crate::tasks::config(ctx, VPS))?;
    let rt = task.runtime().clone();
    let checks: [(&str, Check); 4] = [
        ("every lock class", every_lock_class),
        ("first waiter first", first_waiter_first),
        ("full/empty cells", full_empty_cells),
        ("channels", channels),
    ];
    let (r, report) = task.run(move |c| {
        checks
            .iter()
            .try_for_each(|(name, check)| check(c, &rt).map_err(|e| format!("{name}: {e}")))
    })?;
    r?;
    let vps = ALL_VPS.load(SeqCst);
    ensure(report.cpus.len() == VPS && vps.count_ones() > 1, || {
        format!(
            "{} VPs; every chore ran on one of them ({vps:#b})",
            report.cpus.len()
        )
    })
}
