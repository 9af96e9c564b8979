//! serial: the COM1 driver as a user process.
//!
//! Serves the console orders (`tessera_user::console::orders`) on its endpoint; input arrives
//! only as the kernel's IRQ POSTs (`abi::post::IRQ_FIRED`) through the endpoint with
//! `slots::serial::IRQ_BADGE`, never by polling.
//!
//! Invariants: at most one reader waits; its resume capability sits in one of the two
//! [`RESUME_SLOTS`] and every wait receives into the other, so it is never overwritten. A
//! waiting reader is answered as soon as input is buffered.
#![no_std]
#![no_main]

mod uart;

use heapless::Deque;
use tessera_user::abi::message::{InvocationKind, MessageInfo};
use tessera_user::abi::{order, post};
use tessera_user::console::{orders, pack, unpack, CHUNK};
use tessera_user::invoke::{self, Received};
use tessera_user::{entry, slots};
use uart::{Uart, INPUT_BYTES};

entry!(main);

/// Where the resume capabilities of CALLs land, alternately.
const RESUME_SLOTS: [u8; 2] = [slots::FREE, slots::FREE + 1];

struct Driver {
    uart: Uart,
    input: Deque<u8, INPUT_BYTES>,
    /// The resume slot of the reader waiting for input.
    reader: Option<u8>,
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

    fn handle(&mut self, m: &Received, resume: u8) -> Reply {
        let info = MessageInfo::unpack(m.info);
        let kind = info.map(|i| i.kind);
        if m.badge == slots::serial::IRQ_BADGE
            && kind == Some(InvocationKind::Post)
            && m.order() == post::IRQ_FIRED
        {
            self.uart.drain(&mut self.input);
            return match self.reader {
                Some(slot) if !self.input.is_empty() => {
                    self.reader = None;
                    Reply {
                        cap: slot,
                        data: self.take_input(),
                    }
                }
                _ => NO_REPLY,
            };
        }
        if !info.is_some_and(|i| i.resume) {
            return NO_REPLY;
        }
        match m.order() {
            orders::WRITE => {
                let mut bytes = [0u8; CHUNK];
                let n = unpack(&m.data, &mut bytes);
                self.uart.write(&bytes[..n]);
                Reply {
                    cap: resume,
                    data: [0; 4],
                }
            }
            orders::READ if !self.input.is_empty() => Reply {
                cap: resume,
                data: self.take_input(),
            },
            orders::READ if self.reader.is_none() => {
                self.reader = Some(resume);
                NO_REPLY
            }
            orders::SHUTDOWN => {
                uart::exit_machine(m.data[0] == 0);
                Reply {
                    cap: resume,
                    data: [1, 0, 0, 0],
                }
            }
            _ => Reply {
                cap: resume,
                data: [0; 4],
            },
        }
    }
}

fn main(_arg: u64) {
    let mut d = Driver {
        uart: Uart::open(),
        input: Deque::new(),
        reader: None,
    };
    if invoke::call(
        slots::serial::IRQ,
        order::irq::BIND,
        &[],
        &[slots::serial::IRQ_ENDPOINT],
    )
    .is_err()
    {
        d.uart
            .write(b"serial: cannot bind the COM1 interrupt; input is off\r\n");
    }
    d.uart.drain(&mut d.input);
    let mut reply = NO_REPLY;
    loop {
        let free = if d.reader == Some(RESUME_SLOTS[0]) {
            RESUME_SLOTS[1]
        } else {
            RESUME_SLOTS[0]
        };
        let n = reply.data.len();
        reply = match invoke::raw(
            InvocationKind::Return,
            reply.cap,
            0,
            &reply.data[..n],
            &[],
            [0, 0, 0, free],
        ) {
            Ok(m) => d.handle(&m, free),
            Err(_) => NO_REPLY,
        };
    }
}
