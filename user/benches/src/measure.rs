//! Measuring one operation: `rdtsc` around many iterations, minus the loop's own cost.
//!
//! Guarantees: the result is (ticks of the loop with the operation - ticks of the same loop
//! with an empty body) / iterations, in tenths, never negative. Under `-icount shift=0` a
//! tick is one guest instruction, so the number is instructions per operation.
//!
//! Profile mode ([`set_profile`], from `InitArg::profile`): after timing, [`per_op`] runs the
//! operation once more between [`tessera_profile_begin`] and [`tessera_profile_end`], for
//! `cargo xtask profile` to single-step. That extra run comes after the timed loops, so the
//! figures are the same in both modes; outside profile mode the markers are never called.

use core::hint::black_box;
use core::sync::atomic::{AtomicBool, Ordering};
use tessera_user::tsc;

/// The first argument of [`tessera_profile_begin`]: every program is linked at the same
/// addresses, so `cargo xtask profile` tells this program's marker from other code at its
/// address by this value in `rdi` ("tessprof").
pub const PROFILE_MAGIC: u64 = u64::from_le_bytes(*b"tessprof");

static PROFILE: AtomicBool = AtomicBool::new(false);

/// Turns the profile mode on or off for every later [`per_op`].
pub fn set_profile(on: bool) {
    PROFILE.store(on, Ordering::Relaxed);
}

/// Called just before the profiled operation with [`PROFILE_MAGIC`] and the benchmark's name
/// (its bytes and length). Unmangled and never inlined, so `cargo xtask profile` finds it by
/// name and its arguments are in `rdi`, `rsi`, `rdx`.
#[inline(never)]
#[no_mangle]
pub extern "C" fn tessera_profile_begin(magic: u64, name: *const u8, len: usize) {
    black_box((magic, name, len));
}

/// Called just after the profiled operation: the trace ends at its first instruction.
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

/// The cost of `op` over `iterations` runs, less the loop's overhead (an empty body); the
/// benchmark `name` is what profile mode's marker says.
pub fn per_op(name: &str, iterations: u64, op: &mut dyn FnMut()) -> PerOp {
    let overhead = time_loop(iterations, &mut || black_box(()));
    let total = time_loop(iterations, op);
    if PROFILE.load(Ordering::Relaxed) {
        tessera_profile_begin(PROFILE_MAGIC, name.as_ptr(), name.len());
        op();
        tessera_profile_end();
    }
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
