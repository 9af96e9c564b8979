//! COM1 and the isa-debug-exit port, as the serial driver sees them.
//!
//! Assumes: the kernel opened COM1's ports and port 0xf4 to this process only
//! (`abi::boot::serial_ports`); touching them from any other process faults.
//! Guarantees: `write` waits for the transmitter per byte (LSR polling, no interrupt) and
//! always reaches the wire, even while the UART is looped back for the IRQ benchmark;
//! `drain` takes every byte the receiver holds while the input buffer has room, so the
//! edge-triggered line can fire again. When the buffer is full it leaves the rest in the
//! UART, whose full FIFO makes QEMU hold the remaining input back (back-pressure: nothing is
//! dropped); the driver drains again as soon as a reader makes room (`Uart::backed_up`).
//! A receiver overrun (bytes the UART itself lost) is counted, never silent.

use heapless::Deque;
use tessera_user::abi::boot::serial_ports::{COM1, DEBUG_EXIT, EXIT_FAILURE, EXIT_SUCCESS};
use uart_16550::SerialPort;
use x86_64::instructions::port::Port;

/// Bytes of input buffered while no reader is waiting; beyond them the UART holds input back.
pub const INPUT_BYTES: usize = 4096;

/// The line-status register: data ready, overrun error.
const LSR: u16 = COM1 + 5;
const LSR_DATA_READY: u8 = 1;
const LSR_OVERRUN: u8 = 2;

/// The byte the IRQ benchmark loops back to the receiver: NUL, which the shell's line
/// editor ignores should one ever reach a reader.
pub const MARKER: u8 = 0;

pub struct Uart {
    port: SerialPort,
    /// Whether the transmitter is looped back to the receiver (`loopback.rs`).
    pub(crate) looped: bool,
    /// The last drain stopped at a full buffer with input left in the UART.
    backed_up: bool,
}

/// What one drain found.
#[derive(Clone, Copy, Debug, Default)]
pub struct Drained {
    /// The benchmark's [`MARKER`] was taken out.
    pub marker: bool,
    /// Times the UART reported a receiver overrun (input lost before the driver saw it).
    pub overruns: u32,
}

impl Uart {
    /// Initialises COM1: 8N1, FIFOs, receive interrupt enabled.
    pub fn open() -> Uart {
        // SAFETY: COM1 is the 16550 at this base, and this process is its only user-mode driver.
        let mut port = unsafe { SerialPort::new(COM1) };
        port.init();
        Uart {
            port,
            looped: false,
            backed_up: false,
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        let looped = self.looped;
        // Console output must reach the wire, not the receiver, during a benchmark run.
        if looped {
            self.set_loopback(false);
        }
        for &b in bytes {
            self.port.send_raw(b);
        }
        if looped {
            self.set_loopback(true);
        }
    }

    /// Moves received bytes into `input` until the UART is empty or `input` is full; with
    /// `take_marker`, the first [`MARKER`] is taken out instead.
    pub fn drain(&mut self, input: &mut Deque<u8, INPUT_BYTES>, take_marker: bool) -> Drained {
        let mut d = Drained::default();
        self.backed_up = false;
        loop {
            let lsr = inb(LSR);
            if lsr & LSR_OVERRUN != 0 {
                d.overruns += 1;
            }
            if lsr & LSR_DATA_READY == 0 {
                return d;
            }
            if input.is_full() {
                self.backed_up = true;
                return d;
            }
            let b = inb(COM1);
            if take_marker && !d.marker && b == MARKER {
                d.marker = true;
                continue;
            }
            // Cannot fail: the buffer had room (checked above).
            let _ = input.push_back(b);
        }
    }

    /// Whether input waits in the UART for room in the driver's buffer.
    pub fn backed_up(&self) -> bool {
        self.backed_up
    }
}

/// Writes one byte to an I/O port.
#[inline(always)]
pub(crate) fn outb(port: u16, value: u8) {
    let mut p: Port<u8> = Port::new(port);
    // SAFETY: only COM1's registers are written through here; they touch no memory.
    unsafe { p.write(value) };
}

/// Reads one byte from an I/O port.
pub(crate) fn inb(port: u16) -> u8 {
    let mut p: Port<u8> = Port::new(port);
    // SAFETY: only COM1's registers are read through here; they touch no memory.
    unsafe { p.read() }
}

/// Ends QEMU through isa-debug-exit; returns only on a machine without that device.
pub fn exit_machine(success: bool) {
    let mut port: Port<u32> = Port::new(DEBUG_EXIT);
    // SAFETY: writing the debug-exit port ends the machine and touches no memory.
    unsafe { port.write(if success { EXIT_SUCCESS } else { EXIT_FAILURE }) };
}
