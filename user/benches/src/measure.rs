//! Measuring one operation: `rdtsc` around many iterations, minus the loop's own cost.
//!
//! Guarantees: the result is (ticks of the loop with the operation - ticks of the same loop
//! with an empty body) / iterations, in tenths, never negative. Under `-icount shift=0` a
//! tick is one guest instruction, so the number is instructions per operation.
//!
//! Profile mode ([`set_profile`], from `InitArg::profile`): [`profiled`] runs a benchmark
//! again, for [`PROFILED_ITERATIONS`], between [`tessera_profile_begin`] and
//! [`tessera_profile_end`], for `cargo xtask profile` to single-step. The benchmark's code is
//! not touched: the same function runs, only with fewer iterations, so what is stepped is what
//! the figures measure. Outside profile mode the markers are never called.

use core::hint::black_box;
use core::sync::atomic::{AtomicBool, Ordering};
use tessera_user::tsc;

/// The first argument of [`tessera_profile_begin`]: every program is linked at the same
/// addresses, so `cargo xtask profile` tells this program's marker from other code at its
/// address by this value in `rdi` ("tessprof").
pub const PROFILE_MAGIC: u64 = u64::from_le_bytes(*b"tessprof");

/// Iterations of a profiled run: `cargo xtask profile` takes the second iteration of each timed
/// loop (the first may pay for what the benchmark's line just printed, the third ends in the
/// loop's exit).
pub const PROFILED_ITERATIONS: u64 = 3;

static PROFILE: AtomicBool = AtomicBool::new(false);

/// Turns the profile mode on or off.
pub fn set_profile(on: bool) {
    PROFILE.store(on, Ordering::Relaxed);
}

/// In profile mode, runs `bench` (a benchmark run for [`PROFILED_ITERATIONS`]) between the
/// markers, naming it `name`; otherwise does nothing.
pub fn profiled(name: &str, bench: impl FnOnce()) {
    if PROFILE.load(Ordering::Relaxed) {
        tessera_profile_begin(PROFILE_MAGIC, name.as_ptr(), name.len());
        bench();
        tessera_profile_end();
    }
}

/// Called just before a profiled run with [`PROFILE_MAGIC`] and the benchmark's name (its
/// bytes and length). Unmangled and never inlined, so `cargo xtask profile` finds it by name
/// and its arguments are in `rdi`, `rsi`, `rdx`.
#[inline(never)]
#[no_mangle]
pub extern "C" fn tessera_profile_begin(magic: u64, name: *const u8, len: usize) {
    black_box((magic, name, len));
}

/// Called just after a profiled run: the trace ends at its first instruction.
#[inline(never)]
#[no_mangle]
pub extern "C" fn tessera_profile_end() {
    // Not empty, so the linker cannot fold it into another function's address.
    black_box(PROFILE_MAGIC);
}

/// Ticks per operation, times ten (one decimal place).
#[derive(Clone, Copy, Debug)]
pub struct PerOp {
    pub tenths: u64,
    pub iterations: u64,
}

impl core::fmt::Display for PerOp {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        write!(
            f,
            "{}.{} {}",
            self.tenths / 10,
            self.tenths % 10,
            self.iterations
        )
    }
}

fn time_loop(iterations: u64, op: &mut dyn FnMut()) -> u64 {
    let start = tsc::now();
    for i in 0..iterations {
        black_box(i);
        op();
    }
    tsc::now().wrapping_sub(start)
}

/// The cost of `op` over `iterations` runs, less the loop's overhead (an empty body).
pub fn per_op(iterations: u64, op: &mut dyn FnMut()) -> PerOp {
    let overhead = time_loop(iterations, &mut || black_box(()));
    let total = time_loop(iterations, op);
    PerOp {
        tenths: total.saturating_sub(overhead) * 10 / iterations.max(1),
        iterations,
    }
}

/// The cost of ticks measured by the caller (`total` over `iterations`), less the empty
/// loop's overhead for as many iterations.
pub fn from_total(total: u64, iterations: u64) -> PerOp {
    let overhead = time_loop(iterations, &mut || black_box(()));
    from_ticks(total, overhead, iterations)
}

/// `total` ticks over `iterations`, less `overhead` ticks measured for as many iterations of
/// everything but the operation.
pub fn from_ticks(total: u64, overhead: u64, iterations: u64) -> PerOp {
    PerOp {
        tenths: total.saturating_sub(overhead) * 10 / iterations.max(1),
        iterations,
    }
}
