//! SMP scaling: CALL/RETURN throughput of helper pairs (a client in one address space calling
//! a server in another) as more CPUs work at once, measured in TSC time without `-icount` and
//! reported as figures of one run, so `cargo xtask bench --scaling` can give ratios.
//!
//! - `pairs_<n>`: `n` independent pairs, one per CPU at best (the fast path runs a server on
//!   its caller's CPU, so a pair stays where its client is; pairs start homed round robin).
//! - `one_server_<n>`: `n` clients hammering one server: contention on one process's lock.
//! - `cross_cpu_call_<n>`: one client pinned to CPU 0 calling one server pinned to CPU `n - 1`:
//!   `_1` has both on CPU 0 (the fast path's switch), `_2` has the server on CPU 1, so every
//!   CALL and every reply wakes a process on the other CPU (a run-queue insertion there and an
//!   IPI if it idles).
//!
//! - `scale: chores_alive <bytes per chore> <chores>`: 100,000 chores alive at once in one
//!   task of a VP per CPU (`tasks::scale`): a capacity, not a speed, printed by the same boot.
//!
//! Guarantees: one line `scaling: <name> <calls per second> <calls>` per case, then
//! `scaling: done`; a case that fails prints `scaling <name> failed: <why>` instead. The tester
//! waits for its clients' POSTs in the kernel, so it takes no CPU from them while they run.

use tessera_suite::helpers::{Helper, DONE, REPORTED};
use tessera_suite::spawn::{spawn, Spawned};
use tessera_user::abi::{Error, Rights};
use tessera_user::{caps, invoke, println, slots, tsc};

/// CALLs each client makes.
const CALLS: u64 = 20_000;
/// The most clients or servers a case uses, and where their slots start.
const MOST: usize = 4;
const SERVER_SLOTS: u8 = 10;
const CLIENT_SLOTS: u8 = SERVER_SLOTS + 3 * MOST as u8;
const SERVER_ENDPOINTS: u8 = CLIENT_SLOTS + 3 * MOST as u8;
const DONE_ENDPOINT: u8 = SERVER_ENDPOINTS + MOST as u8;
const DONE_BADGE: u64 = 0x5ca1e;

/// Runs every case that fits in `cpus` CPUs; `tsc_hz` turns ticks into seconds.
pub fn run(cpus: u8, tsc_hz: u64) {
    let fits = [1, 2, 4]
        .into_iter()
        .filter(|&n| n <= usize::from(cpus).max(1));
    for n in fits.clone() {
        report(&Name::new("pairs", n), case(n, n, tsc_hz));
    }
    for n in fits.clone() {
        report(&Name::new("one_server", n), case(1, n, tsc_hz));
    }
    for n in fits.filter(|&n| n <= 2) {
        report(
            &Name::new("cross_cpu_call", n),
            pinned_pair(n as u64 - 1, tsc_hz),
        );
    }
    crate::tasks::scaling(cpus, tsc_hz);
    crate::tasks::scale(usize::from(cpus).max(1));
    println!("scaling: done");
}

fn report(name: &Name, r: Result<(u64, u64), Error>) {
    match r {
        Ok((per_second, calls)) => println!("scaling: {name} {per_second} {calls}"),
        Err(e) => println!("scaling {name} failed: {e:?}"),
    }
}

/// `servers` servers and `clients` clients (client `i` calls server `i % servers`): the calls
/// per second of all clients together, and how many calls that was.
fn case(servers: usize, clients: usize, tsc_hz: u64) -> Result<(u64, u64), Error> {
    run_case(servers, clients, None, tsc_hz)
}

/// One client on CPU 0 and one server on CPU `server_cpu`, both pinned.
fn pinned_pair(server_cpu: u64, tsc_hz: u64) -> Result<(u64, u64), Error> {
    run_case(1, 1, Some([server_cpu, 0]), tsc_hz)
}

/// `case`, with every server pinned to `pin[0]` and every client to `pin[1]` if given.
fn run_case(
    servers: usize,
    clients: usize,
    pin: Option<[u64; 2]>,
    tsc_hz: u64,
) -> Result<(u64, u64), Error> {
    let priority = caps::info(slots::SELF)?.priority as u64;
    caps::make_endpoint(slots::SELF, DONE_BADGE, DONE_ENDPOINT)?;
    let mut started: [Option<Spawned>; 2 * MOST] = Default::default();
    for (s, slot) in started[..servers].iter_mut().enumerate() {
        let h = spawn(
            SERVER_SLOTS + 3 * s as u8,
            Helper::PairServer,
            0,
            priority,
            0,
        )?;
        caps::make_endpoint(h.process(), s as u64 + 1, SERVER_ENDPOINTS + s as u8)?;
        if let Some([cpu, _]) = pin {
            caps::set_affinity(h.process(), cpu)?;
        }
        caps::resume(h.process())?;
        *slot = Some(h);
    }
    for (c, slot) in started[MOST..MOST + clients].iter_mut().enumerate() {
        let server = SERVER_ENDPOINTS + (c % servers) as u8;
        let h = spawn(
            CLIENT_SLOTS + 3 * c as u8,
            Helper::PairClient,
            CALLS,
            priority,
            server,
        )?;
        caps::set_cap(h.process(), DONE, DONE_ENDPOINT, Rights::ALL)?;
        if let Some([_, cpu]) = pin {
            caps::set_affinity(h.process(), cpu)?;
        }
        *slot = Some(h);
    }
    let start = tsc::now();
    for h in started[MOST..MOST + clients].iter().flatten() {
        caps::resume(h.process())?;
    }
    let mut done = 0;
    let mut failed = false;
    while done < clients {
        let m = invoke::wait()?;
        if m.badge == DONE_BADGE && m.order() == REPORTED {
            done += 1;
            failed |= m.data[0] != 0;
        }
    }
    let ticks = tsc::now().wrapping_sub(start).max(1);
    drop(started);
    if failed {
        return Err(Error::BadState);
    }
    let calls = CALLS * clients as u64;
    let per_second = u128::from(calls) * u128::from(tsc_hz.max(1)) / u128::from(ticks);
    Ok((per_second as u64, calls))
}

/// A case's name, `<kind>_<n>`, printed without a heap.
struct Name {
    kind: &'static str,
    n: usize,
}

impl Name {
    fn new(kind: &'static str, n: usize) -> Name {
        Name { kind, n }
    }
}

impl core::fmt::Display for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}_{}", self.kind, self.n)
    }
}
