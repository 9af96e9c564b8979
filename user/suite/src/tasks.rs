//! The user runtime on the kernel (`tessera-tasks`): a task whose VPs are processes pinned to
//! CPUs in the tester's address space, with the tester as their fault keeper. Chores run on
//! every VP and only on its CPU, idle VPs steal, sleeps end on the kernel's alarms, a stack
//! grows through the keeper and an overflow past its limit ends that chore only, a chore's
//! own tertiary trap table handles its faults, and a chore's non-blocking CALL to a busy
//! server suspends the chore, not its VP, until the kernel's notification.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use tessera_runtime::{
    vp_notification, Ctx as ChoreCtx, Killed, Ordinary, PoolConfig, Runtime, TaskId, Trap,
    TrapHandler, TrapOutcome, TrapTable,
};
use tessera_tasks::{KernelCall, Task, TaskConfig, TaskReport};
use tessera_user::abi::fault::kind;
use tessera_user::{caps, echo, invoke, println, slots};

use crate::tester::{ensure, Outcome};
use crate::Ctx;

const VPS: usize = 4;

pub(crate) fn config(ctx: &Ctx, vps: usize) -> TaskConfig {
    TaskConfig {
        task: TaskId::new(10).unwrap_or_else(|| unreachable!()),
        vps,
        chunk_pages: 2,
        max_chunks: 4,
        chunks: 16,
        slots: 96,
        dense_bytes: 0,
        pool: PoolConfig {
            low_water: 2,
            refill: 4,
            reserve: 1,
        },
        quota: 300,
        priority: ctx.priority,
    }
}

fn run<T: Send + 'static>(
    ctx: &Ctx,
    vps: usize,
    main: impl FnOnce(&mut tessera_runtime::Ctx<tessera_runtime::Ordinary>) -> T + Send + 'static,
) -> Result<(T, TaskReport), String> {
    Task::new(config(ctx, vps))?.run(main)
}

/// The CPU the calling VP's process runs on now.
fn my_cpu() -> Option<u32> {
    caps::info(slots::SELF).ok().and_then(|i| i.cpu)
}

/// Works for about `ns`, giving the CPU to the kernel's next process now and then: VPs pinned
/// to one CPU (a 1-CPU boot) share it only if their chores do.
fn busy(ns: u64) {
    let end = tessera_user::clock::now_ns() + ns;
    while tessera_user::clock::now_ns() < end {
        let _ = caps::yield_now(slots::SELF);
    }
}

/// 64 chores spawned on VP 0, each busy for 1 ms: every one ran on the CPU its VP is pinned
/// to, idle VPs stole some (they ran on more than one VP), and with two or more CPUs online
/// they ran on more than one CPU.
pub fn chores_run_on_pinned_vps_and_are_stolen(ctx: &Ctx) -> Outcome {
    let (seen, report) = run(ctx, VPS, |c| {
        let hs: Vec<_> = (0..64)
            .map(|_| {
                c.spawn(|c| {
                    busy(1_000_000);
                    (c.vp(), my_cpu())
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.map(|h| h.join(c)).map_err(|e| format!("{e:?}")))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let seen = seen?;
    let mut vps = [0u32; VPS];
    let mut cpus = Vec::new();
    for &(vp, cpu) in &seen {
        vps[vp] += 1;
        let pinned = report.cpus[vp];
        ensure(cpu == Some(pinned), || {
            format!("a chore on VP {vp} (pinned to CPU {pinned}) saw itself on CPU {cpu:?}")
        })?;
        if !cpus.contains(&pinned) {
            cpus.push(pinned);
        }
    }
    let online = report.cpus.iter().max().map_or(1, |m| m + 1);
    println!(
        "usertest note: 64 chores per VP {vps:?} on CPUs {:?}; VP waits {:?}, wake POSTs {:?}",
        report.cpus, report.waits, report.posts
    );
    ensure(vps.iter().filter(|&&n| n > 0).count() >= 2, || {
        format!("every chore ran on one VP: {vps:?} (no stealing)")
    })?;
    ensure(online < 2 || cpus.len() >= 2, || {
        format!("{online} CPUs online but chores ran on CPUs {cpus:?} only")
    })
}

/// Chores on two VPs sleep 2 to 6 ms: none wakes early, and the VPs waited in the kernel for
/// their alarms' POSTs while all their chores slept.
pub fn chores_sleep_on_alarms(ctx: &Ctx) -> Outcome {
    let (early, report) = run(ctx, 2, |c| {
        let hs: Vec<_> = (0..8u64)
            .map(|i| {
                c.spawn(move |c| {
                    let deadline = c.now_ns() + 2_000_000 + (i % 5) * 1_000_000;
                    c.sleep_until(deadline);
                    u64::from(c.now_ns() < deadline)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.map_or(1, |h| h.join(c)))
            .sum::<u64>()
    })?;
    ensure(early == 0, || format!("{early} of 8 sleeps ended early"))?;
    ensure(report.alarms.iter().sum::<u64>() > 0, || {
        format!("no VP got an alarm POST (waits {:?})", report.waits)
    })
}

/// About 1 KiB of stack per level, kept by `black_box` so the recursion is real.
#[inline(never)]
fn deep(n: u64) -> u64 {
    let frame = core::hint::black_box([n as u8; 1024]);
    if n == 0 {
        return 0;
    }
    deep(n - 1) + u64::from(frame[(n % 1024) as usize])
}

/// With 8 KiB chunks and a limit of four: a chore needing ~14 KiB gets its stack grown by the
/// keeper and finishes right; a chore recursing without end is reported and ended alone
/// (joined as `Killed`); a chore beside them is untouched.
pub fn stack_grows_then_overflow_ends_the_chore(ctx: &Ctx) -> Outcome {
    let ((grew, overflowed, beside), report) = run(ctx, 2, |c| {
        let grows = c.spawn(|_| deep(14));
        let overflows = c.spawn(|_| deep(u64::MAX));
        let beside = c.spawn(|c| {
            c.yield_now();
            7u64
        });
        (
            grows.map(|h| h.join_result(c)),
            overflows.map(|h| h.join_result(c)),
            beside.map(|h| h.join(c)),
        )
    })?;
    let want: u64 = (1..=14u64).sum();
    ensure(grew == Ok(Ok(want)), || {
        format!("the deep chore returned {grew:?}, expected {want}")
    })?;
    ensure(overflowed == Ok(Err(Killed)), || {
        format!("the endless chore ended as {overflowed:?}")
    })?;
    ensure(beside == Ok(7), || {
        format!("the chore beside returned {beside:?}")
    })?;
    let k = report.keeper;
    ensure(k.grown >= 1 && k.overflows == 1, || {
        format!(
            "keeper grew {} stacks and ended {} on overflow",
            k.grown, k.overflows
        )
    })
}

fn skip_ud2(_chore: tessera_runtime::ChoreId, trap: &mut Trap) -> TrapOutcome {
    trap.rip += 2;
    TrapOutcome::Resume
}

static SKIP_UD2: TrapTable = {
    let mut handlers: [Option<TrapHandler>; 32] = [None; 32];
    handlers[kind::INVALID_OPCODE as usize] = Some(skip_ud2);
    TrapTable { handlers }
};

fn ud2_then(v: u64) -> u64 {
    // SAFETY: ud2 only raises #UD; the keeper moves RIP past it or ends the chore.
    unsafe { core::arch::asm!("ud2") };
    v
}

/// A chore whose tertiary table skips `ud2` goes on past it; one with the default table is
/// ended by the same fault.
pub fn tertiary_trap_table_per_chore(ctx: &Ctx) -> Outcome {
    let ((own, default), report) = run(ctx, 1, |c| {
        let own = c.spawn(|c| {
            c.set_trap_table(&SKIP_UD2);
            ud2_then(42)
        });
        let default = c.spawn(|_| ud2_then(43));
        (
            own.map(|h| h.join_result(c)),
            default.map(|h| h.join_result(c)),
        )
    })?;
    ensure(own == Ok(Ok(42)), || {
        format!("the chore with a #UD handler: {own:?}")
    })?;
    ensure(default == Ok(Err(Killed)), || {
        format!("the chore without one: {default:?}")
    })?;
    let k = report.keeper;
    ensure(k.handled == 1 && k.ended == 1, || {
        format!("keeper: {} handled, {} ended", k.handled, k.ended)
    })
}

/// The shell's demo on up to four VPs and on one: results checked (inside), a listing taken
/// during the search that shows its chores, and the speed-up printed.
pub fn demo_on_every_cpu(ctx: &Ctx) -> Outcome {
    let (one, many) = tessera_tasks::demo::demo(VPS, ctx.priority)?;
    let ordinary = many
        .listing
        .iter()
        .filter(|c| c.kind == tessera_runtime::ChoreKind::Ordinary)
        .count();
    println!(
        "usertest note: demo search 1 VP {} us, {} VPs on CPUs {:?} {} us, speed-up x{}.{:02}; pipeline 1 VP {} us, {} VPs {} us; {} chores listed during the search",
        one.ns / 1000,
        many.vps,
        many.cpus,
        many.ns / 1000,
        one.ns / many.ns.max(1),
        one.ns * 100 / many.ns.max(1) % 100,
        one.pipeline_ns / 1000,
        many.vps,
        many.pipeline_ns / 1000,
        many.listing.len()
    );
    ensure(ordinary > 48, || {
        format!(
            "the listing during the search shows {ordinary} ordinary chores, not its 48 and main"
        )
    })
}

/// The ring page's slot, the helper's slots and the endpoint to VP 0 (the tester's).
const RING_PAGE: u8 = crate::tester::SCRATCH + 3;
const SENDER_BASE: u8 = crate::tester::SCRATCH;
const NOTIFY_EP: u8 = crate::tester::SCRATCH + 4;
/// Where the tester maps the ring.
const HOME_RING_VA: usize = 0x20_0000_0000;
const MESSAGES: u64 = 300;

/// A channel between tasks: a helper in another address space sends 300 messages through an
/// 8-message ring in a page both map; the task's receiving chore gets them all, in order, and
/// it waited on the empty ring and was woken by the helper's notification POSTs to VP 0.
pub fn channel_between_tasks(ctx: &Ctx) -> Outcome {
    use crate::ring_sender;
    use tessera_user::abi::{CapType, Rights};
    let rw = Rights::READ.union(Rights::WRITE);
    caps::create(slots::BANK, CapType::Page, RING_PAGE).map_err(|e| format!("ring page: {e:?}"))?;
    let r = (|| -> Outcome {
        caps::zero_page(RING_PAGE).map_err(|e| format!("zero: {e:?}"))?;
        caps::map(slots::task::SPACE, HOME_RING_VA as u64 >> 12, RING_PAGE, rw)
            .map_err(|e| format!("map the ring here: {e:?}"))?;
        // SAFETY: a fresh zeroed page mapped read-write here, shared only with the sender.
        let mut rx = unsafe { tessera_runtime::shared_channel(HOME_RING_VA, 8) };
        let sender = crate::spawn::spawn_code(
            SENDER_BASE,
            ring_sender::code(),
            0,
            MESSAGES,
            ctx.priority,
            crate::tester::ENDPOINT,
        )
        .map_err(|e| format!("spawn the sender: {e:?}"))?;
        caps::map(sender.space(), ring_sender::RING_VA >> 12, RING_PAGE, rw)
            .map_err(|e| format!("map the ring there: {e:?}"))?;
        let task = Task::new(config(ctx, 2))?;
        task.endpoint_to_vp(0, 0, NOTIFY_EP)
            .map_err(|e| format!("endpoint to VP 0: {e:?}"))?;
        caps::set_cap(
            sender.process(),
            ring_sender::NOTIFY_SLOT,
            NOTIFY_EP,
            Rights::ALL,
        )
        .map_err(|e| format!("give the endpoint: {e:?}"))?;
        caps::resume(sender.process()).map_err(|e| format!("start the sender: {e:?}"))?;
        let (right, report) = task.run(move |c| {
            (0..MESSAGES)
                .filter(|&i| {
                    let m = rx.recv(c);
                    m.data[0] == i
                        && m.data[1] == i * i
                        && m.header.tag == ring_sender::TAG
                        && m.header.sender.raw() == ring_sender::SENDER
                })
                .count() as u64
        })?;
        drop(sender);
        let notes: u64 = report.notes.iter().sum();
        println!("usertest note: {MESSAGES} messages between tasks through a ring of 8; {notes} notification POSTs woke the receiver");
        ensure(right == MESSAGES, || {
            format!("{right} of {MESSAGES} messages arrived right, in order")
        })?;
        ensure(notes > 0, || {
            String::from("the receiver never waited for a notification")
        })
    })();
    let _ = caps::destroy(slots::BANK, RING_PAGE);
    r
}

/// VP slot of the copy of the tester's resume capability for echo's HELD call.
const RELEASE: u8 = tessera_tasks::slots::GIVEN.start;
/// Yields the second chore makes while the caller waits.
const MEANWHILE: u64 = 100;
/// How long the kernel's notification may take before the test gives up on it.
const NOTIFY_PATIENCE_NS: u64 = 2_000_000_000;

/// With echo held by the tester, a chore's non-blocking CALL to echo gets WOULDBLOCK and the
/// chore is suspended: another chore on the same (only) VP runs 100 yields meanwhile, then
/// releases echo and sleeps; the kernel's NOTIFIED POST reaches the idle VP, the caller
/// retries and gets echo's answer. If no notification comes within two seconds, the second
/// chore POSTs the VP's word itself (so the test ends) and the test fails.
pub fn nonblocking_call_suspends_the_chore_not_the_vp(ctx: &Ctx) -> Outcome {
    let seen = call_to_held_echo(ctx, false)?;
    println!("usertest note: non-blocking CALL: {} tries, {} yields of another chore meanwhile, {} NOTIFIED POSTs to the VP", seen.tries, seen.meanwhile, seen.notes);
    seen.check()
}

/// As above, but after releasing echo the other chore keeps yielding instead of sleeping, so
/// the VP never idles: the NOTIFIED POST still reaches the waiting chore, taken by the VP's
/// look for notifications while busy (`Idle::poll`, every millisecond).
pub fn a_busy_vp_still_takes_its_notifications(ctx: &Ctx) -> Outcome {
    let seen = call_to_held_echo(ctx, true)?;
    println!("usertest note: non-blocking CALL on a busy VP: {} tries, {} NOTIFIED POSTs, {} looks while busy", seen.tries, seen.notes, seen.polls);
    seen.check()?;
    ensure(seen.polls >= 1, || {
        String::from("the busy VP never looked for its notifications")
    })
}

/// What `call_to_held_echo` saw.
struct HeldEcho {
    answer: Result<u64, tessera_user::abi::Error>,
    tries: u32,
    meanwhile: u64,
    forced: bool,
    notes: u64,
    polls: u64,
}

impl HeldEcho {
    fn check(&self) -> Outcome {
        let (tries, notes, meanwhile) = (self.tries, self.notes, self.meanwhile);
        ensure(!self.forced, || {
            String::from("no notification reached the waiting chore within two seconds")
        })?;
        ensure(self.answer == Ok(42), || {
            format!("echo answered {:?}", self.answer)
        })?;
        ensure(meanwhile == MEANWHILE, || {
            format!("the other chore ran {meanwhile} of {MEANWHILE} yields while the caller waited")
        })?;
        ensure(tries >= 2 && notes >= 1, || {
            format!(
                "{tries} tries, {notes} NOTIFIED POSTs: the call never waited for a notification"
            )
        })
    }
}

/// A chore's non-blocking CALL to echo, held by the tester, on a task of one VP; another
/// chore yields `MEANWHILE` times, releases echo, then waits for the call to end: asleep, or
/// (`busy`) yielding, so that the VP never idles.
fn call_to_held_echo(ctx: &Ctx, busy: bool) -> Result<HeldEcho, String> {
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
    crate::tester::hold_echo()?;
    let released = Arc::new(AtomicBool::new(false));
    let rel = released.clone();
    let r = (move || {
        let task = Task::new(config(ctx, 1))?;
        task.give_cap(RELEASE, crate::tester::HOLD_RESUME)
            .map_err(|e| format!("give the resume capability: {e:?}"))?;
        let ((answer, tries, meanwhile, forced), report) = task.run(move |c| {
            // 0: the caller has not called yet, 1: it is in its call, 2: the call returned.
            let state = Arc::new(AtomicU32::new(0));
            let s = state.clone();
            let caller = c.spawn(move |c| {
                let mut call = KernelCall::call(slots::ECHO, echo::PLUS_ONE, &[41]);
                s.store(1, SeqCst);
                let r = c.call_nonblocking(&mut call);
                s.store(2, SeqCst);
                (r.map(|m| m.data[0]), call.tries)
            });
            let other = c.spawn(move |c| {
                let mut meanwhile = 0;
                while meanwhile < MEANWHILE && state.load(SeqCst) == 1 {
                    meanwhile += 1;
                    c.yield_now();
                }
                let sent = invoke::send(RELEASE, 0, &[], &[]);
                rel.store(sent.is_ok(), SeqCst);
                let give_up = c.now_ns() + NOTIFY_PATIENCE_NS;
                while state.load(SeqCst) != 2 && c.now_ns() < give_up {
                    if busy {
                        c.yield_now();
                    } else {
                        c.sleep_for(200_000);
                    }
                }
                let forced = state.load(SeqCst) != 2;
                if forced {
                    let word = vp_notification(0);
                    let _ = invoke::post(
                        tessera_tasks::slots::vp_endpoint(0),
                        tessera_tasks::NOTIFY,
                        word,
                    );
                }
                (meanwhile, forced)
            });
            let (answer, tries) = caller
                .map_or((Err(tessera_user::abi::Error::OutOfQuota), 0), |h| {
                    h.join(c)
                });
            let (meanwhile, forced) = other.map_or((0, true), |h| h.join(c));
            (answer, tries, meanwhile, forced)
        })?;
        Ok(HeldEcho {
            answer,
            tries,
            meanwhile,
            forced,
            notes: report.kernel_notes[0],
            polls: report.polls[0],
        })
    })();
    if !released.load(SeqCst) {
        crate::tester::release_echo()?;
    }
    r
}

/// Chores alive at once in `thousands_of_chores_alive`: their 1.5 KiB chunks take 3,774
/// pages, which with the suite's own fit in one space's `MAX_MAPPINGS` (4,096).
const MANY: usize = 10_000;

/// 10,000 chores alive at once in one task on two VPs, each blocked on one wait queue, then
/// all released. A chore costs its 1.5 KiB dense stack chunk and nothing else: its control
/// block, closure and result are in the chunk, its suspension record in its frame (the
/// program's heap is 64 KiB: it could not hold 10,000 of anything).
pub fn thousands_of_chores_alive(ctx: &Ctx) -> Outcome {
    let mut config = config(ctx, 2);
    config.dense_bytes = 1536;
    config.chunks = 64;
    config.slots = MANY + 64;
    config.quota = 4 * 1024;
    let task = Task::new(config)?;
    let rt = task.runtime().clone();
    let ([alive, blocked, finished], report) = task.run(move |c| alive_at_once(c, &rt, MANY))?;
    let bytes = report.pages * 4096 / MANY;
    let refills = report.keeper.refills;
    println!("usertest note: {alive} chores alive, {blocked} blocked at once, {finished} finished; {} pages mapped ({refills} refills asked of the home): {bytes} bytes per chore", report.pages);
    ensure(alive == MANY && blocked == MANY && finished == MANY, || {
        format!("{alive} alive, {blocked} blocked, {finished} finished of {MANY}")
    })?;
    // A refill's CALL to the home never runs on a spawning chore's 1.5 KiB chunk, where it
    // could run into the chunk below (a refill stack takes it: `user/tasks/src/refill.rs`).
    ensure(report.refill_calls_on_chunks == 0, || {
        format!(
            "{} of {refills} refill CALLs ran on a chore's chunk",
            report.refill_calls_on_chunks
        )
    })?;
    // The task started with 64 chunks mapped: the rest came from refills out of its bank.
    ensure(refills > 0 && report.pages * 4096 >= MANY * 1536, || {
        format!(
            "{refills} refills, {} pages for {MANY} chunks",
            report.pages
        )
    })
}

/// A task whose bank runs dry while its chores multiply: the home refuses the refill, the
/// spawn that finds no chunk fails with `NoStack`, and the chores alive go on and finish.
pub fn stack_refill_refused_when_the_bank_is_dry(ctx: &Ctx) -> Outcome {
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use tessera_runtime::{SpawnError, WaitQueue};
    let mut config = config(ctx, 2);
    config.quota = 120;
    config.slots = 1024;
    let task = Task::new(config)?;
    let ((spawned, error, finished), report) = task.run(move |c| {
        let gate = Arc::new(WaitQueue::new());
        let done = Arc::new(AtomicUsize::new(0));
        let mut spawned = 0;
        let error = loop {
            let (g, d) = (gate.clone(), done.clone());
            match c.spawn(move |c| {
                g.block(c);
                d.fetch_add(1, SeqCst);
            }) {
                Ok(_) => spawned += 1,
                Err(e) => break Some(e),
            }
            if spawned == 1024 {
                break None;
            }
            c.yield_now();
        };
        while gate.len() < spawned {
            c.yield_now();
        }
        gate.unblock_all();
        while done.load(SeqCst) < spawned {
            c.yield_now();
        }
        (spawned, error, done.load(SeqCst))
    })?;
    let k = report.keeper;
    println!("usertest note: {spawned} chores spawned before {error:?}; {} refills, {} refused; {} pages", k.refills, k.refused_refills, report.pages);
    ensure(error == Some(SpawnError::NoStack), || {
        format!("after {spawned} spawns the bank's end gave {error:?}")
    })?;
    ensure(k.refused_refills >= 1 && k.refills >= 1, || {
        format!("{} refills, {} refused", k.refills, k.refused_refills)
    })?;
    ensure(finished == spawned, || {
        format!("{finished} of {spawned} chores finished")
    })
}

/// Spawns `many` chores from `c`, each blocking on one wait queue, until all are alive and
/// blocked at once; then releases them and waits until all have finished. Returns how many
/// were alive, blocked and finished (a failed spawn stops it: `[spawned, 0, 0]`). Also the
/// 100,000-chore scale figure of `cargo xtask bench --scaling`.
pub fn alive_at_once(c: &mut ChoreCtx<Ordinary>, rt: &Runtime, many: usize) -> [usize; 3] {
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use tessera_runtime::WaitQueue;
    let gate = Arc::new(WaitQueue::new());
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..many {
        let (g, d) = (gate.clone(), done.clone());
        if c.spawn(move |c| {
            g.block(c);
            d.fetch_add(1, SeqCst);
        })
        .is_err()
        {
            return [i, 0, 0];
        }
        // Let the new chores run (and block) now and then: the run queues stay short.
        if i % 64 == 63 {
            c.yield_now();
        }
    }
    while gate.len() < many && rt.live() == many + 1 {
        c.yield_now();
    }
    let (alive, blocked) = (rt.live() - 1, gate.len());
    gate.unblock_all();
    while done.load(SeqCst) < blocked {
        c.yield_now();
    }
    [alive, blocked, done.load(SeqCst)]
}

/// The name server process's slots: its endpoint and process, its stack page (tester's).
const NAMES_EP: u8 = crate::tester::SCRATCH + 5;
const NAMES_PROCESS: u8 = crate::tester::SCRATCH + 6;
const NAMES_STACK: u8 = crate::tester::SCRATCH + 7;
/// VP slot of the endpoint to the name server.
const NAMES: u8 = tessera_tasks::slots::GIVEN.start + 1;
/// Where the name server's stack page is mapped (in the tester's space).
const NAMES_STACK_VA: u64 = 0x21_0000_0000;

/// The name server process: answers until STOP, then halts itself.
extern "C" fn name_server_main(_arg: u64) -> ! {
    tessera_tasks::name_server::serve(20, 21);
    let _ = caps::halt(slots::SELF);
    unreachable!("the name server ran on after halting itself")
}

/// The system-wide name server as a process beside two tasks: a server chore of task 20
/// registers a channel name (a second registration of it is refused); a client chore of task
/// 21 looks it up and gets the channel and word, finds an unknown name missing, unregisters
/// it and then finds it missing too.
pub fn name_server_across_tasks(ctx: &Ctx) -> Outcome {
    use tessera_runtime::ChannelId;
    use tessera_tasks::name_server::{self, NameError};
    use tessera_user::abi::{CapType, Rights};
    let rw = Rights::READ.union(Rights::WRITE);
    let made = caps::create(slots::BANK, CapType::Process, NAMES_PROCESS)
        .and_then(|()| caps::create(slots::BANK, CapType::Page, NAMES_STACK))
        .and_then(|()| caps::map(slots::task::SPACE, NAMES_STACK_VA >> 12, NAMES_STACK, rw))
        .and_then(|()| caps::set_space(NAMES_PROCESS, slots::task::SPACE))
        .and_then(|()| caps::set_cap(NAMES_PROCESS, slots::SELF, NAMES_PROCESS, Rights::ALL))
        .and_then(|()| caps::set_priority(NAMES_PROCESS, ctx.priority))
        .and_then(|()| {
            caps::set_entry(
                NAMES_PROCESS,
                name_server_main as *const () as u64,
                NAMES_STACK_VA + 4096 - 8,
                0,
            )
        })
        .and_then(|()| caps::make_endpoint(NAMES_PROCESS, 0x4e4d, NAMES_EP))
        .and_then(|()| caps::resume(NAMES_PROCESS));
    let r = (|| -> Outcome {
        made.map_err(|e| format!("start the name server: {e:?}"))?;
        let channel = ChannelId {
            owner: TaskId::new(20).unwrap_or_else(|| unreachable!()),
            index: 7,
        };
        let mut a = config(ctx, 1);
        a.task = channel.owner;
        let server_task = Task::new(a)?;
        server_task
            .give_cap(NAMES, NAMES_EP)
            .map_err(|e| format!("give: {e:?}"))?;
        let (registered, _) = server_task.run(move |c| {
            let h = c.spawn(move |c| {
                let first = name_server::register(c, NAMES, "results", channel, 0x5eed);
                let again = name_server::register(c, NAMES, "results", channel, 1);
                (first, again)
            });
            h.map(|h| h.join(c))
        })?;
        ensure(registered == Ok((Ok(()), Err(NameError::Taken))), || {
            format!("task 20's registrations: {registered:?}")
        })?;
        let mut b = config(ctx, 2);
        b.task = TaskId::new(21).unwrap_or_else(|| unreachable!());
        let client_task = Task::new(b)?;
        client_task
            .give_cap(NAMES, NAMES_EP)
            .map_err(|e| format!("give: {e:?}"))?;
        let (seen, _) = client_task.run(move |c| {
            let h = c.spawn(move |c| {
                (
                    name_server::lookup(c, NAMES, "results"),
                    name_server::lookup(c, NAMES, "nothing"),
                    name_server::unregister(c, NAMES, "results"),
                    name_server::lookup(c, NAMES, "results"),
                )
            });
            h.map(|h| h.join(c))
        })?;
        let want = Ok((
            Ok((channel, 0x5eed)),
            Err(NameError::NotFound),
            Ok(()),
            Err(NameError::NotFound),
        ));
        ensure(seen == want, || format!("task 21 saw {seen:?}"))
    })();
    let stopped = invoke::call(NAMES_EP, name_server::STOP, &[], &[]);
    for slot in [NAMES_PROCESS, NAMES_STACK, NAMES_EP] {
        let _ = caps::destroy(slots::BANK, slot);
    }
    r?;
    ensure(stopped.is_ok_and(|m| m.data[0] == name_server::OK), || {
        format!("STOP: {stopped:?}")
    })
}
