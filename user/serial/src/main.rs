//! serial: the COM1 driver as a user process.
//!
//! Serves the console orders (`tessera_user::console::orders`) on its endpoint; input arrives
//! only as the kernel's IRQ POSTs (`abi::post::IRQ_FIRED`) through the endpoint with
//! `slots::serial::IRQ_BADGE`, never by polling.
//!
//! Each IRQ POST is ACKed (`order::irq::ACK`) once the UART is drained, so the kernel posts
//! the line again; while input is held back in the UART (the buffer is full) the ACK waits
//! for a READ to make room and the drain after it, so a level-triggered line would not fire
//! again for input the driver cannot take.
//!
//! Invariants: at most one reader waits and at most one IRQ benchmark runs; their resume
//! capabilities sit in two of the three [`RESUME_SLOTS`] and every wait receives into the
//! third, so neither is ever overwritten. A waiting reader is answered as soon as input is
//! buffered; the benchmark's caller when its last round ends (`irq_bench`).
#![no_std]
#![no_main]

mod irq_bench;
mod loopback;
mod uart;

use heapless::Deque;
use irq_bench::IrqBench;
use tessera_user::abi::message::{InvocationKind, MessageInfo};
use tessera_user::abi::{order, post};
use tessera_user::console::{orders, pack, unpack, CHUNK};
use tessera_user::invoke::{self, Received};
use tessera_user::{entry, slots, tsc};
use uart::{Uart, INPUT_BYTES};

entry!(main);

/// Where the resume capabilities of CALLs land: whichever is held by neither the reader nor
/// the benchmark's caller.
const RESUME_SLOTS: [u8; 3] = [slots::FREE, slots::FREE + 1, slots::FREE + 2];

struct Driver {
    uart: Uart,
    input: Deque<u8, INPUT_BYTES>,
    /// The resume slot of the reader waiting for input.
    reader: Option<u8>,
    /// The IRQ benchmark in progress.
    bench: Option<IrqBench>,
    /// Whether COM1's line is bound to the driver (no benchmark without its POSTs).
    bound: bool,
    /// An IRQ POST was received and not yet ACKed.
    unacked: bool,
}

/// What to do after a message: reply through `cap` (0: no reply) with `data`.
struct Reply {
    cap: u8,
    data: [u64; 4],
}

const NO_REPLY: Reply = Reply {
    cap: 0,
    data: [0; 4],
};

impl Driver {
    /// The resume slot the next wait receives into.
    fn free_slot(&self) -> u8 {
        let held =
            |s: u8| self.reader == Some(s) || self.bench.as_ref().is_some_and(|b| b.resume == s);
        RESUME_SLOTS
            .into_iter()
            .find(|&s| !held(s))
            .unwrap_or(RESUME_SLOTS[0])
    }

    fn take_input(&mut self) -> [u64; 4] {
        let mut chunk = [0u8; CHUNK];
        let mut n = 0;
        while n < CHUNK {
            match self.input.pop_front() {
                Some(b) => chunk[n] = b,
                None => break,
            }
            n += 1;
        }
        pack(&chunk[..n])
    }

    /// Answers the benchmark's caller (by SEND, so a reader can be answered by the RETURN).
    fn end_bench(&mut self, answer: [u64; 4]) {
        if let Some(b) = self.bench.take() {
            let _ = invoke::send(b.resume, 0, &answer, &[]);
        }
    }

    /// Starts the benchmark's next round, if one is due.
    fn start_round(&mut self) {
        let answer = self
            .bench
            .as_mut()
            .and_then(|b| b.start_round(&mut self.uart));
        if let Some(a) = answer {
            self.end_bench(a);
        }
    }

    /// Moves the UART's input into the buffer (at TSC `now`), ends a benchmark round whose
    /// marker came back, and reports input the UART lost.
    fn pull(&mut self, now: u64) {
        let round = self.bench.as_ref().is_some_and(IrqBench::in_flight);
        let drained = self.uart.drain(&mut self.input, round);
        if drained.overruns > 0 {
            self.uart
                .write(b"\r\nserial: input overrun: the UART lost input bytes\r\n");
        }
        if drained.marker {
            let answer = self
                .bench
                .as_mut()
                .and_then(|b| b.round_done(&mut self.uart, now));
            if let Some(a) = answer {
                self.end_bench(a);
            }
        }
    }

    /// ACKs the last IRQ POST if the UART is drained.
    fn ack_if_drained(&mut self) {
        if self.unacked && !self.uart.backed_up() {
            self.unacked = false;
            if invoke::call(slots::serial::IRQ, order::irq::ACK, &[], &[]).is_err() {
                self.uart
                    .write(b"serial: the kernel refused the ACK of the COM1 interrupt\r\n");
            }
        }
    }

    /// An IRQ POST arrived at TSC `now`.
    fn interrupted(&mut self, now: u64) -> Reply {
        self.pull(now);
        self.unacked = true;
        self.ack_if_drained();
        match self.reader {
            Some(slot) if !self.input.is_empty() => {
                self.reader = None;
                Reply {
                    cap: slot,
                    data: self.take_input(),
                }
            }
            _ => NO_REPLY,
        }
    }

    fn handle(&mut self, m: &Received, resume: u8, now: u64) -> Reply {
        let info = MessageInfo::unpack(m.info);
        let kind = info.map(|i| i.kind);
        if m.badge == slots::serial::IRQ_BADGE
            && kind == Some(InvocationKind::Post)
            && m.order() == post::IRQ_FIRED
        {
            return self.interrupted(now);
        }
        if !info.is_some_and(|i| i.resume) {
            return NO_REPLY;
        }
        let answer = |data| Reply { cap: resume, data };
        match m.order() {
            orders::WRITE => {
                let mut bytes = [0u8; CHUNK];
                let n = unpack(&m.data, &mut bytes);
                self.uart.write(&bytes[..n]);
                answer([0; 4])
            }
            orders::READ if !self.input.is_empty() => answer(self.take_input()),
            orders::READ if self.reader.is_none() => {
                self.reader = Some(resume);
                NO_REPLY
            }
            orders::SHUTDOWN => {
                uart::exit_machine(m.data[0] == 0);
                answer([1, 0, 0, 0])
            }
            orders::BENCH_IRQ if self.bound && self.bench.is_none() => {
                match IrqBench::begin(&mut self.uart, resume, m.data[0]) {
                    Some(b) => {
                        self.bench = Some(b);
                        NO_REPLY
                    }
                    None => answer([0; 4]),
                }
            }
            _ => answer([0; 4]),
        }
    }
}

fn main(_arg: u64) {
    let mut d = Driver {
        uart: Uart::open(),
        input: Deque::new(),
        reader: None,
        bench: None,
        bound: false,
        unacked: false,
    };
    d.bound = invoke::call(
        slots::serial::IRQ,
        order::irq::BIND,
        &[],
        &[slots::serial::IRQ_ENDPOINT],
    )
    .is_ok();
    if !d.bound {
        d.uart
            .write(b"serial: cannot bind the COM1 interrupt; input is off\r\n");
    }
    d.pull(tsc::now());
    let mut reply = NO_REPLY;
    loop {
        let free = d.free_slot();
        d.start_round();
        let n = reply.data.len();
        let received = invoke::raw(
            InvocationKind::Return,
            reply.cap,
            0,
            &reply.data[..n],
            &[],
            [0, 0, 0, free],
        );
        let now = tsc::now();
        reply = match received {
            Ok(m) => d.handle(&m, free, now),
            Err(_) => NO_REPLY,
        };
        // A READ made room: input held back in the UART comes in now (its line fires again
        // only once the receiver has been emptied).
        if d.uart.backed_up() && !d.input.is_full() {
            d.pull(now);
            d.ack_if_drained();
        }
    }
}
