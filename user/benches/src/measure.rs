//! Measuring one operation: `rdtsc` around many iterations, minus the loop's own cost.
//!
//! Guarantees: the result is (ticks of the loop with the operation - ticks of the same loop
//! with an empty body) / iterations, in tenths, never negative. Under `-icount shift=0` a
//! tick is one guest instruction, so the number is instructions per operation.

use core::hint::black_box;
use tessera_user::tsc;

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
