//! COM1 and the isa-debug-exit port, as the serial driver sees them.
//!
//! Assumes: the kernel opened COM1's ports and port 0xf4 to this process only
//! (`abi::boot::serial_ports`); touching them from any other process faults.
//! Guarantees: `write` waits for the transmitter per byte (LSR polling, no interrupt);
//! `drain` takes every byte the receiver holds, so the edge-triggered line can fire again.

use heapless::Deque;
use tessera_user::abi::boot::serial_ports::{COM1, DEBUG_EXIT, EXIT_FAILURE, EXIT_SUCCESS};
use uart_16550::SerialPort;
use x86_64::instructions::port::Port;

/// Bytes of input buffered while no reader is waiting.
pub const INPUT_BYTES: usize = 256;

pub struct Uart {
    port: SerialPort,
}

impl Uart {
    /// Initialises COM1: 8N1, FIFOs, receive interrupt enabled.
    pub fn open() -> Uart {
        // SAFETY: COM1 is the 16550 at this base, and this process is its only user-mode driver.
        let mut port = unsafe { SerialPort::new(COM1) };
        port.init();
        Uart { port }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.port.send_raw(b);
        }
    }

    /// Moves every received byte into `input`; bytes that do not fit are dropped.
    pub fn drain(&mut self, input: &mut Deque<u8, INPUT_BYTES>) {
        while let Ok(b) = self.port.try_receive() {
            let _ = input.push_back(b);
        }
    }
}

/// Ends QEMU through isa-debug-exit; returns only on a machine without that device.
pub fn exit_machine(success: bool) {
    let mut port: Port<u32> = Port::new(DEBUG_EXIT);
    // SAFETY: writing the debug-exit port ends the machine and touches no memory.
    unsafe { port.write(if success { EXIT_SUCCESS } else { EXIT_FAILURE }) };
}
