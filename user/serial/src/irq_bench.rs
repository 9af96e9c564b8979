//! The IRQ-to-driver benchmark (`console::orders::BENCH_IRQ`). A round: read the TSC, make
//! COM1 interrupt (`Uart::raise`), and read the TSC again when the kernel's IRQ POST carrying
//! that round's loopback byte has reached the driver. In between: interrupt entry, the
//! deferred work that turns the pending line into a POST, the driver's wait (the RETURN it
//! makes to receive) and the POST's delivery, up to the driver running again.
//!
//! Invariants: at most one run at a time; the caller's resume capability stays in
//! [`IrqBench::resume`] until the run ends, and the driver answers it once; a round is in
//! flight from `start_round` until `round_done`; the UART is looped back exactly while a run
//! is in progress. Round 0 is an untimed probe that checks the UART really raised its
//! interrupt, so a UART that cannot never leaves the caller waiting.

use crate::uart::Uart;
use tessera_user::console::MAX_IRQ_ROUNDS;
use tessera_user::tsc;

pub struct IrqBench {
    /// The slot of the caller's resume capability.
    pub resume: u8,
    rounds: u64,
    /// Rounds finished, the probe included.
    finished: u64,
    /// Ticks of the timed rounds.
    ticks: u64,
    /// The TSC at the start of the round in flight.
    started: Option<u64>,
}

impl IrqBench {
    /// Starts a run of `rounds` for the caller whose resume capability is in `resume`;
    /// `None` (refused) if `rounds` is 0 or above `MAX_IRQ_ROUNDS`.
    pub fn begin(uart: &mut Uart, resume: u8, rounds: u64) -> Option<IrqBench> {
        if rounds == 0 || rounds > MAX_IRQ_ROUNDS {
            return None;
        }
        uart.loop_back(true);
        Some(IrqBench {
            resume,
            rounds,
            finished: 0,
            ticks: 0,
            started: None,
        })
    }

    /// Whether a round waits for its interrupt.
    pub fn in_flight(&self) -> bool {
        self.started.is_some()
    }

    /// Makes the UART interrupt, unless a round is in flight already. Returns the answer
    /// (no rounds) if the probe finds the UART did not raise its interrupt.
    pub fn start_round(&mut self, uart: &mut Uart) -> Option<[u64; 4]> {
        if self.in_flight() {
            return None;
        }
        let start = tsc::now();
        uart.raise();
        self.started = Some(start);
        if self.finished == 0 && !uart.interrupt_pending() {
            return Some(self.end(uart, 0));
        }
        None
    }

    /// The round in flight got its interrupt, seen by the driver at TSC `now`. Returns the
    /// answer after the last round.
    pub fn round_done(&mut self, uart: &mut Uart, now: u64) -> Option<[u64; 4]> {
        let start = self.started.take()?;
        if self.finished > 0 {
            self.ticks += now.wrapping_sub(start);
        }
        self.finished += 1;
        (self.finished > self.rounds).then(|| self.end(uart, self.rounds))
    }

    /// Restores the UART; the answer: `[rounds, ticks, overhead, 0]`.
    fn end(&mut self, uart: &mut Uart, rounds: u64) -> [u64; 4] {
        uart.loop_back(false);
        [rounds, self.ticks, overhead(uart, rounds), 0]
    }
}

/// What a round costs besides the interrupt path: the two TSC reads and a port write.
fn overhead(uart: &mut Uart, rounds: u64) -> u64 {
    let mut ticks = 0u64;
    for _ in 0..rounds {
        let start = tsc::now();
        uart.touch_scratch();
        ticks += tsc::now().wrapping_sub(start);
    }
    ticks
}
