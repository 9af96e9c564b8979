//! IRQ to a user driver running: the serial driver makes COM1 interrupt it and times each
//! interrupt from the port write that raises it to the driver running with the kernel's IRQ
//! POST (`console::orders::BENCH_IRQ`; `user/serial/src/irq_bench.rs` says what is inside).
//!
//! Assumes: the program holds `slots::CONSOLE`. Guarantees: the number is the driver's ticks
//! per round less its TSC reads and a harmless port write, measured by the driver the same
//! way; a run the driver refuses (or cut short) is an error, never a number.

use crate::measure::{from_ticks, PerOp};
use tessera_user::abi::Error;
use tessera_user::console::orders;
use tessera_user::{invoke, slots};

/// Ticks per interrupt over `rounds` interrupts.
pub fn irq_to_driver(rounds: u64) -> Result<PerOp, Error> {
    let r = invoke::call(slots::CONSOLE, orders::BENCH_IRQ, &[rounds], &[])?;
    let [done, ticks, overhead, _] = r.data;
    if done != rounds {
        return Err(Error::BadState);
    }
    Ok(from_ticks(ticks, overhead, rounds))
}
