//! Kernel tracing (cargo feature `trace`): every CPU writes `tessera_abi::trace` records into
//! its own fixed ring (`ring.rs`); `TRACE_SWITCH` or the command-line word `trace` starts it,
//! and a stop writes every ring to COM2 (`dump.rs`), away from the console.
//!
//! Without the feature no site exists (each is a `#[cfg(feature = "trace")]` statement, and
//! the core's `trace_event!` expands to nothing), so the kernel's paths are the instructions
//! of a kernel with no tracing at all; with it, a site costs one load and one branch while
//! tracing is off.

#[cfg(feature = "trace")]
mod dump;
#[cfg(feature = "trace")]
mod names;
#[cfg(feature = "trace")]
mod ring;

#[cfg(feature = "trace")]
use tessera_abi::trace::{switch_why, Kind, NO_PROCESS};
use tessera_core::trace::Event;

#[cfg(feature = "trace")]
use core::sync::atomic::{AtomicBool, Ordering};

/// Whether the rings are being written. Read at every site.
#[cfg(feature = "trace")]
static ON: AtomicBool = AtomicBool::new(false);
/// Starts so far: a run loop that sees a new one forgets which process it traced last.
#[cfg(feature = "trace")]
static STARTS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// The command line asked for tracing from boot.
#[cfg(feature = "trace")]
static AT_BOOT: AtomicBool = AtomicBool::new(false);

/// Whether this kernel is built with tracing.
pub const BUILT_IN: bool = cfg!(feature = "trace");

/// Records an event on `cpu` if tracing is on.
#[cfg(feature = "trace")]
#[inline(always)]
pub fn event(cpu: u32, kind: Kind, process: u32, a: u64, b: u64) {
    if ON.load(Ordering::Relaxed) {
        ring::record(cpu, kind, process, 0, a, b);
    }
}

/// Records an event the core reported (`Platform::trace`); a user event naming a process is
/// kept even while tracing is off.
#[inline(always)]
pub fn core_event(cpu: u32, e: Event) {
    #[cfg(feature = "trace")]
    {
        if e.kind == Kind::User && u64::from(e.code) == tessera_abi::trace::USER_NAME {
            names::set(e.process, e.a, e.b);
        } else if ON.load(Ordering::Relaxed) {
            ring::record(cpu, e.kind, e.process, e.code, e.a, e.b);
        }
    }
    #[cfg(not(feature = "trace"))]
    let _ = (cpu, e);
}

/// Starts (`true`) or stops tracing. A start empties every ring; a stop writes them to COM2.
/// Returns the events recorded since the start.
pub fn switch(on: bool) -> u64 {
    #[cfg(feature = "trace")]
    {
        if on {
            ring::reset();
            STARTS.fetch_add(1, Ordering::Relaxed);
            ON.store(true, Ordering::Release);
            0
        } else {
            // A CPU that saw `ON` just before this store may still finish its record while
            // the dump reads: a slot not yet written decodes as no event (`Record::unpack`).
            ON.store(false, Ordering::Release);
            dump::write()
        }
    }
    #[cfg(not(feature = "trace"))]
    {
        let _ = on;
        0
    }
}

/// The command line said `trace`: start once every CPU is up (`start_if_asked`).
pub fn ask_at_boot() {
    #[cfg(feature = "trace")]
    AT_BOOT.store(true, Ordering::Relaxed);
    #[cfg(not(feature = "trace"))]
    log::warn!(
        "cmdline: this kernel is built without tracing (cargo xtask trace builds one with it)"
    );
}

/// Starts tracing if the command line asked for it; called once every CPU is online.
pub fn start_if_asked() {
    #[cfg(feature = "trace")]
    if AT_BOOT.load(Ordering::Relaxed) {
        switch(true);
        log::info!("tracing on (trace stop in the shell writes it to COM2)");
    }
}

/// What one CPU's run loop knows for the trace: which process ran last and why it left, so
/// that a change of process is one `Switch` event.
#[cfg(feature = "trace")]
#[derive(Default)]
pub struct CpuTrace {
    last: Option<u32>,
    why: u64,
    /// The `STARTS` count `last` belongs to.
    start: u64,
}

#[cfg(feature = "trace")]
impl CpuTrace {
    /// The loop is about to enter `process` in user mode with `rax` in its registers.
    pub fn entering(&mut self, cpu: u32, process: u32, rax: u64) {
        if !ON.load(Ordering::Relaxed) {
            return;
        }
        let start = STARTS.load(Ordering::Relaxed);
        if self.start != start {
            self.start = start;
            self.last = None;
        }
        if self.last != Some(process) {
            let from = self.last.unwrap_or(NO_PROCESS);
            let why = if self.last.is_none() {
                switch_why::FROM_IDLE
            } else {
                self.why
            };
            event(cpu, Kind::Switch, process, u64::from(from), why);
            self.last = Some(process);
        }
        event(cpu, Kind::UserEntry, process, rax, 0);
    }

    /// The current process left user mode through `vector` (the run loop's exit vectors).
    pub fn left(&mut self, vector: u64) {
        if !ON.load(Ordering::Relaxed) {
            return;
        }
        self.why = match vector {
            crate::user::entry::EXIT_SYSCALL => switch_why::INVOKED,
            v if v >= 32 => switch_why::PREEMPTED,
            _ => switch_why::FAULTED,
        };
    }

    /// The CPU goes idle.
    pub fn idle(&mut self, cpu: u32) {
        if !ON.load(Ordering::Relaxed) {
            return;
        }
        if let Some(from) = self.last.take() {
            event(cpu, Kind::Switch, NO_PROCESS, u64::from(from), self.why);
        }
    }
}

/// Iterations of each loop of `bench`; below the ring's size, so every event is kept.
#[cfg(feature = "trace")]
const BENCH_EVENTS: u64 = 10_000;

/// The command line said `bench`: prints the cost of one trace site in TSC ticks (guest
/// instructions under `-icount shift=0`), with tracing off and with the event recorded, each
/// net of the same loop without a site. Leaves tracing off and the rings empty.
pub fn bench() {
    #[cfg(feature = "trace")]
    {
        let cpu = crate::cpu::percpu::percpu().id;
        let timed = |site: bool| {
            let start = crate::tsc();
            for i in 0..BENCH_EVENTS {
                if site {
                    event(cpu, Kind::Wake, NO_PROCESS, core::hint::black_box(i), 0);
                } else {
                    core::hint::black_box(i);
                }
            }
            crate::tsc() - start
        };
        let bare = timed(false);
        let off = timed(true);
        switch(true);
        ring::reset();
        let on = timed(true);
        ON.store(false, Ordering::Release);
        ring::reset();
        // Tenths of a tick, in integers: no floating point in the kernel.
        let tenths = |t: u64| t.saturating_sub(bare) * 10 / BENCH_EVENTS;
        let (off, on) = (tenths(off), tenths(on));
        crate::kprintln!(
            "bench: trace_site_off {}.{} {BENCH_EVENTS}",
            off / 10,
            off % 10
        );
        crate::kprintln!(
            "bench: trace_event_on {}.{} {BENCH_EVENTS}",
            on / 10,
            on % 10
        );
    }
}
