//! Interleaving inside kernel entries: each simulated CPU's kernel entry runs on a host thread
//! of its own, but only one runs at a time (it holds the baton), and at every lock operation of
//! the core (`Platform::turn`, called from `HeldLocks`) the seeded generator picks which CPU
//! inside the kernel goes on. A path can so be paused between any two lock operations while
//! others run, and the same seed still gives the same run: the generator is the only source of
//! choice and only the baton holder runs.
//!
//! # How a round goes
//! The world (the main thread) runs the first entry of the round itself and hands each other
//! CPU's entry to that CPU's worker thread (a `Job`). Whoever gets the baton starts or goes on
//! with its entry; at each turn it may pass the baton on; when its entry ends it passes it to
//! another one still inside, and the world's thread waits until none is. The world then checks
//! invariants at this quiescent point.
//!
//! # Guarantees
//! - A CPU waiting for a lock (`Turn::Wait`) passes the baton to another CPU inside the kernel:
//!   the holder of the lock is one of them, paused at a turn, so it gets to run.
//! - A deadlock (every CPU inside waits, for longer than `WAIT_LIMIT` turns) or a lock held
//!   with nobody inside the kernel panics the waiting CPU with a message; the world reports it.
//! - A panic inside an entry ends that entry only; the round still ends (`Done::panic`).

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tessera_abi::fault::{kind, Fault};
use tessera_abi::message::DATA_WORDS;
use tessera_abi::Error;
use tessera_core::keeper::Faulted;
use tessera_core::sync::Turn;
use tessera_core::{Cap, Cpu, Exit, Kernel};

use crate::platform::SimPlatform;
use crate::rng::Rng;
use tessera_core::model_regs::ModelRegs;

/// At a turn other than a wait, another CPU runs with probability 1 in this.
const SWITCH_ONE_IN: u64 = 8;

/// Consecutive `Wait` turns after which the CPUs inside are taken to be deadlocked.
const WAIT_LIMIT: u64 = 200_000;

/// An order the kernel runs on its own behalf (an injected fault).
#[derive(Clone, Debug)]
pub(crate) struct Order {
    pub cap: Cap,
    pub order: u32,
    pub data: Vec<u64>,
    pub caps: Vec<Cap>,
}

/// What an order returned.
pub(crate) type OrderResult = Result<([u64; DATA_WORDS], Option<Cap>), Error>;

/// The kernel entry a CPU makes in a round.
#[derive(Clone, Debug)]
pub(crate) enum Entry {
    /// Its current program's `syscall`, registers loaded.
    Syscall,
    /// An interrupt from user mode or from the idle loop.
    Interrupt,
    /// A page fault at a virtual page.
    Fault(u64),
    /// A fault of the current program that the kernel does not resolve (its registers at the
    /// fault loaded): to its keeper, or it is halted.
    Exception(Fault),
    /// Orders run by the kernel itself, one after the other.
    Orders(Vec<Order>),
}

/// A CPU's entry, with the CPU's private state and frame moved in for the round.
pub(crate) struct Job {
    pub cpu: Cpu,
    pub regs: ModelRegs,
    pub entry: Entry,
    /// The orders' results, in order (filled in by the run).
    pub results: Vec<OrderResult>,
    /// The panic that ended the entry, if one did.
    pub panic: Option<String>,
    /// Where an `Exception` left its program.
    pub faulted: Option<Faulted>,
}

impl Job {
    pub(crate) fn new(cpu: Cpu, regs: ModelRegs, entry: Entry) -> Job {
        Job {
            cpu,
            regs,
            entry,
            results: Vec::new(),
            panic: None,
            faulted: None,
        }
    }

    /// Runs the entry to its end on this thread (turns are taken if the thread is a worker).
    pub(crate) fn run(&mut self, k: &Kernel<SimPlatform>) {
        let c = self.cpu.id.index();
        let mmu = &k.platform;
        let r = catch_unwind(AssertUnwindSafe(|| match &self.entry {
            Entry::Syscall | Entry::Interrupt => {
                let running_in = mmu.user_space(c);
                mmu.kernel_entered(c);
                let exit = if matches!(self.entry, Entry::Syscall) {
                    k.syscall_framed(&mut self.cpu, &mut self.regs)
                } else {
                    k.interrupted_framed(&mut self.cpu, &mut self.regs, running_in)
                };
                let space = match exit {
                    Exit::User { space, .. } => space,
                    Exit::Idle => None,
                };
                mmu.user_entered(c, space);
            }
            Entry::Exception(f) => {
                mmu.kernel_entered(c);
                // As the arch: a page fault is offered to the core first.
                let resolved = f.kind == kind::PAGE_FAULT
                    && k.resolve_fault(&mut self.cpu, f.addr >> 12).is_ok();
                if !resolved {
                    self.faulted = Some(k.fault_framed(&mut self.cpu, &self.regs, *f));
                }
                let space = match k.exit_framed(&mut self.cpu, &mut self.regs) {
                    Exit::User { space, .. } => space,
                    Exit::Idle => None,
                };
                mmu.user_entered(c, space);
            }
            Entry::Fault(vpn) => {
                let space = mmu.user_space(c);
                mmu.kernel_entered(c);
                let _ = k.resolve_fault(&mut self.cpu, *vpn);
                mmu.user_entered(c, space);
            }
            // The kernel acting on its own: the model keeps this CPU in user mode, which only
            // holds freed frames in limbo longer.
            Entry::Orders(orders) => {
                for o in orders {
                    let r = k.kernel_invoke(&mut self.cpu, o.cap, o.order, &o.data, &o.caps);
                    self.results.push(r);
                }
            }
        }));
        if let Err(p) = r {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            self.panic = Some(format!("panic: {}", msg.unwrap_or_default()));
        }
    }
}

struct Baton {
    /// Who runs: a CPU index, or `main` (the world, between rounds).
    holder: usize,
    main: usize,
    jobs: Vec<Option<Job>>,
    /// CPUs whose entry of this round has not ended.
    inside: Vec<bool>,
    rng: Rng,
    waits: u64,
    quit: bool,
}

impl Baton {
    /// A CPU inside the kernel, chosen by the generator; not `except` unless it is the only
    /// one; the world if nobody is inside.
    fn pick(&mut self, except: Option<usize>) -> usize {
        let inside: Vec<usize> = (0..self.inside.len()).filter(|&c| self.inside[c]).collect();
        let others: Vec<usize> = inside
            .iter()
            .copied()
            .filter(|&c| Some(c) != except)
            .collect();
        let from = if others.is_empty() { &inside } else { &others };
        if from.is_empty() {
            return self.main;
        }
        from[self.rng.index(from.len())]
    }
}

/// The baton the CPU threads and the world pass around.
pub(crate) struct Turns {
    baton: Mutex<Baton>,
    /// One per CPU, and the world's last.
    wake: Vec<Condvar>,
}

thread_local! {
    /// The baton and the turn-taker this host thread is (a CPU's worker, or the world's thread
    /// while it runs an entry of a round).
    static ME: RefCell<Option<(Arc<Turns>, usize)>> = const { RefCell::new(None) };
}

/// A turn at a lock operation of the CPU this thread runs (see the file header). Outside a
/// round (an entry run alone on the world's thread) no other CPU is in the kernel to hold a
/// lock, so a wait is a bug.
pub(crate) fn turn(at: Turn) {
    ME.with(|me| match &*me.borrow() {
        Some((turns, c)) => turns.turn(*c, at),
        None if at == Turn::Wait => {
            panic!("a lock is held while no other CPU is in the kernel (held past an exit)")
        }
        None => {}
    });
}

impl Turns {
    fn lock(&self) -> MutexGuard<'_, Baton> {
        self.baton.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pass(&self, b: &mut Baton, to: usize) {
        b.holder = to;
        self.wake[to].notify_one();
    }

    fn wait_for<'a>(&self, mut b: MutexGuard<'a, Baton>, me: usize) -> MutexGuard<'a, Baton> {
        while b.holder != me && !b.quit {
            b = self.wake[me].wait(b).unwrap_or_else(|e| e.into_inner());
        }
        b
    }

    fn turn(&self, c: usize, at: Turn) {
        let mut b = self.lock();
        if at == Turn::Wait {
            b.waits += 1;
            if b.waits > WAIT_LIMIT {
                b.waits = 0;
                drop(b);
                panic!("deadlock: CPU {c} waited {WAIT_LIMIT} turns for a lock");
            }
        } else {
            b.waits = 0;
        }
        // A waiter always gives way; otherwise the path goes on seven times in eight, so a
        // paused path tends to stay paused while others run whole operations.
        if at != Turn::Wait && !b.rng.chance(1, SWITCH_ONE_IN) {
            return;
        }
        let next = b.pick(Some(c));
        if next == c {
            return;
        }
        self.pass(&mut b, next);
        drop(self.wait_for(b, c));
    }

    /// Runs one round: every job at once, interleaved at turns; the world's thread runs the
    /// first job itself (one hand-over fewer each way). Returns them run, by CPU.
    fn round(
        self: &Arc<Turns>,
        kernel: &Kernel<SimPlatform>,
        jobs: Vec<(usize, Job)>,
    ) -> Vec<(usize, Job)> {
        let mut jobs = jobs.into_iter();
        let Some((c0, mut mine)) = jobs.next() else {
            return Vec::new();
        };
        let mut b = self.lock();
        let main = b.main;
        let mut cpus = Vec::new();
        for (c, j) in jobs {
            b.jobs[c] = Some(j);
            b.inside[c] = true;
            cpus.push(c);
        }
        b.inside[main] = true;
        let first = b.pick(None);
        if first != main {
            self.pass(&mut b, first);
            b = self.wait_for(b, main);
        }
        drop(b);
        ME.with(|me| *me.borrow_mut() = Some((self.clone(), main)));
        mine.run(kernel);
        ME.with(|me| *me.borrow_mut() = None);
        let mut b = self.lock();
        b.inside[main] = false;
        let next = b.pick(None);
        if next != main {
            self.pass(&mut b, next);
            b = self.wait_for(b, main);
        }
        let mut ran = vec![(c0, mine)];
        ran.extend(
            cpus.into_iter()
                .filter_map(|c| b.jobs[c].take().map(|j| (c, j))),
        );
        ran
    }

    fn worker(self: Arc<Turns>, kernel: Arc<Kernel<SimPlatform>>, c: usize) {
        ME.with(|me| *me.borrow_mut() = Some((self.clone(), c)));
        let mut b = self.lock();
        loop {
            b = self.wait_for(b, c);
            if b.quit {
                return;
            }
            let Some(mut job) = b.jobs[c].take() else {
                return;
            };
            drop(b);
            job.run(&kernel);
            b = self.lock();
            b.jobs[c] = Some(job);
            b.inside[c] = false;
            let next = b.pick(None);
            self.pass(&mut b, next);
        }
    }
}

/// The CPU threads of one simulated system; they end when this is dropped.
pub(crate) struct Workers {
    turns: Arc<Turns>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// A thread for each of `cpus` CPUs, turns chosen by a generator seeded with `seed`.
    pub(crate) fn start(kernel: &Arc<Kernel<SimPlatform>>, cpus: usize, seed: u64) -> Workers {
        let turns = Arc::new(Turns {
            baton: Mutex::new(Baton {
                holder: cpus,
                main: cpus,
                jobs: (0..cpus).map(|_| None).collect(),
                inside: vec![false; cpus + 1],
                rng: Rng::new(seed),
                waits: 0,
                quit: false,
            }),
            wake: (0..=cpus).map(|_| Condvar::new()).collect(),
        });
        let threads = (0..cpus)
            .map(|c| {
                let (t, k) = (turns.clone(), kernel.clone());
                std::thread::Builder::new()
                    .name(format!("sim-cpu{c}"))
                    .stack_size(256 * 1024)
                    .spawn(move || t.worker(k, c))
                    .expect("a simulator CPU thread")
            })
            .collect();
        Workers { turns, threads }
    }

    /// Runs the jobs of one round interleaved (see the file header).
    pub(crate) fn round(
        &self,
        kernel: &Kernel<SimPlatform>,
        jobs: Vec<(usize, Job)>,
    ) -> Vec<(usize, Job)> {
        self.turns.round(kernel, jobs)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        {
            let mut b = self.turns.lock();
            b.quit = true;
            for w in &self.turns.wake {
                w.notify_all();
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
