//! The kernel command line (`-append` in QEMU): `test=all|<name>|user|fuzz`, `bench`, `trace`,
//! `icount` (QEMU counts instructions: the TSC figures are named so), `profile` (with `bench`:
//! the benchmarks' profile mode, `InitArg::profile`),
//! `loglevel=off|error|warn|info|debug|trace`, and for `test=fuzz` the campaign's `seed=N` (32 bits),
//! `count=N` (invocations, at most `FuzzArg::MAX_COUNT`). Unknown words and bad numbers are
//! reported, not fatal.

use core::sync::atomic::{AtomicBool, Ordering};
use tessera_abi::boot::FuzzArg;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Run,
    TestAll,
    TestOne(&'static str),
    /// Boot the system with init in test mode: the user-level test suite.
    TestUser,
    /// Boot the system with init in fuzz mode: the hostile-program fuzzer (its CPU count is
    /// filled in when the CPUs are up).
    TestFuzz(FuzzArg),
    /// Boot the system with init in bench mode: the benchmarks, in guest instructions.
    Bench,
    /// `bench scaling`: the SMP scaling benchmarks, in time (`InitArg::scaling`).
    BenchScaling,
}

pub fn parse(line: &'static str) -> Mode {
    let mut mode = Mode::Run;
    let mut fuzz = FuzzArg {
        seed: 0,
        count: 100_000,
        cpus: 0,
    };
    for word in line.split_ascii_whitespace() {
        match word.split_once('=') {
            Some(("test", "all")) => mode = Mode::TestAll,
            Some(("test", "user")) => mode = Mode::TestUser,
            Some(("test", "fuzz")) => mode = Mode::TestFuzz(fuzz),
            Some(("seed", n)) => match n.parse() {
                Ok(seed) => fuzz.seed = seed,
                Err(_) => log::warn!("cmdline: seed={n:?} is not a 32-bit number"),
            },
            Some(("count", n)) => match n.parse() {
                Ok(count) if count <= FuzzArg::MAX_COUNT => fuzz.count = count,
                _ => log::warn!(
                    "cmdline: count={n:?} is not a number up to {}",
                    FuzzArg::MAX_COUNT
                ),
            },
            Some(("test", name)) => mode = Mode::TestOne(name),
            // Read by the logger first thing at boot (`console::log::init`).
            Some(("loglevel", _)) => {}
            None if word == "bench" => mode = Mode::Bench,
            None if word == "scaling" && mode == Mode::Bench => mode = Mode::BenchScaling,
            None if word == "trace" => crate::trace::ask_at_boot(),
            None if word == "icount" => ICOUNT.store(true, Ordering::Relaxed),
            None if word == "profile" => PROFILE.store(true, Ordering::Relaxed),
            _ => log::warn!("cmdline: ignoring {word:?}"),
        }
    }
    match mode {
        // `seed=` and `count=` may come before or after `test=fuzz`.
        Mode::TestFuzz(_) => Mode::TestFuzz(fuzz),
        other => other,
    }
}

/// QEMU runs with `-icount` (xtask says so with the word `icount`): the TSC counts guest
/// instructions.
static ICOUNT: AtomicBool = AtomicBool::new(false);

/// Whether the TSC counts guest instructions (`icount` on the command line).
pub fn icount() -> bool {
    ICOUNT.load(Ordering::Relaxed)
}

/// `profile` on the command line: the benchmarks call their profile markers (`cargo xtask
/// profile` boots so).
static PROFILE: AtomicBool = AtomicBool::new(false);

/// Whether the benchmarks are to run in their profile mode (`profile` on the command line).
pub fn profile() -> bool {
    PROFILE.load(Ordering::Relaxed)
}

static CMDLINE: spin::Once<([u8; 256], usize)> = spin::Once::new();

/// Copies the NUL-terminated command line at `pa` before its memory can be reused. Runs on
/// the boot page tables, where the first GiB is identity-mapped.
pub fn capture(pa: u64) {
    CMDLINE.call_once(|| {
        let mut buf = [0u8; 256];
        let mut len = 0;
        while pa != 0 && pa < (1 << 30) && len < buf.len() {
            // SAFETY: the boot loader's string lies in identity-mapped low memory; reading
            // stops at its NUL or at the buffer's end.
            let b = unsafe { ((pa + len as u64) as *const u8).read_volatile() };
            if b == 0 {
                break;
            }
            buf[len] = b;
            len += 1;
        }
        (buf, len)
    });
}

pub fn get() -> &'static str {
    CMDLINE.get().map_or("", |(buf, len)| {
        core::str::from_utf8(&buf[..*len]).unwrap_or("")
    })
}
