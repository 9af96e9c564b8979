//! COM1 and the isa-debug-exit port, as the serial driver sees them.
//!
//! Assumes: the kernel opened COM1's ports and port 0xf4 to this process only
//! (`abi::boot::serial_ports`); touching them from any other process faults.
//! Guarantees: `write` waits for the transmitter per byte (LSR polling, no interrupt) and
//! always reaches the wire, even while the UART is looped back for the IRQ benchmark;
//! `drain` takes every byte the receiver holds, so the edge-triggered line can fire again.

use heapless::Deque;
use tessera_user::abi::boot::serial_ports::{COM1, DEBUG_EXIT, EXIT_FAILURE, EXIT_SUCCESS};
use uart_16550::SerialPort;
use x86_64::instructions::port::Port;

/// Bytes of input buffered while no reader is waiting.
pub const INPUT_BYTES: usize = 256;

/// The byte the IRQ benchmark loops back to the receiver: NUL, which the shell's line
/// editor ignores should one ever reach a reader.
pub const MARKER: u8 = 0;

pub struct Uart {
    port: SerialPort,
    /// Whether the transmitter is looped back to the receiver (`loopback.rs`).
    pub(crate) looped: bool,
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

    /// Moves every received byte into `input` (bytes that do not fit are dropped); with
    /// `take_marker`, the first [`MARKER`] is taken out instead. Returns whether it was.
    pub fn drain(&mut self, input: &mut Deque<u8, INPUT_BYTES>, take_marker: bool) -> bool {
        let mut taken = false;
        while let Ok(b) = self.port.try_receive() {
            if take_marker && !taken && b == MARKER {
                taken = true;
            } else {
                let _ = input.push_back(b);
            }
        }
        taken
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
