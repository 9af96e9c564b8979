//! COM1 interrupting its own driver, for the IRQ benchmark: in loopback mode (MCR bit 4) a
//! byte written to THR is received at once, and with the receive FIFO's trigger level at one
//! byte that raises the receive-data interrupt on the UART's line (IRQ 4, through the IOAPIC).
//!
//! Assumes: `Uart::open` set the UART up as `uart_16550` does (FIFOs on with a 14-byte
//! trigger, DTR, RTS and OUT2, only the receive interrupt enabled), and the transmitter is
//! idle when [`Uart::raise`] runs (every `write` waits for it per byte).
//! Guarantees: `loop_back(false)` puts back exactly that setup without flushing either FIFO,
//! so no typed byte is lost.

use crate::uart::{inb, outb, Uart, MARKER};
use tessera_user::abi::boot::serial_ports::COM1;

const THR: u16 = COM1;
const FCR: u16 = COM1 + 2;
const IIR: u16 = COM1 + 2;
const MCR: u16 = COM1 + 4;
/// The scratch register: a port write here changes nothing.
const SCR: u16 = COM1 + 7;

/// DTR, RTS and OUT2, as `uart_16550` leaves them.
const MCR_NORMAL: u8 = 0x0b;
const MCR_LOOP: u8 = 0x10;
/// FIFOs on, nothing flushed, interrupt at 1 byte; without the 14-byte trigger a lone byte
/// would interrupt only after the FIFO's character timeout.
const FCR_TRIGGER_1: u8 = 0x01;
/// FIFOs on, nothing flushed, interrupt at 14 bytes (`uart_16550`'s level).
const FCR_TRIGGER_14: u8 = 0xc1;
/// IIR bit 0 set: no interrupt pending.
const IIR_NONE: u8 = 0x01;

impl Uart {
    /// Loops the transmitter back to the receiver (or ends it); the receive interrupt fires
    /// on every byte while looped back.
    pub fn loop_back(&mut self, on: bool) {
        outb(FCR, if on { FCR_TRIGGER_1 } else { FCR_TRIGGER_14 });
        self.set_loopback(on);
    }

    pub(crate) fn set_loopback(&mut self, on: bool) {
        outb(
            MCR,
            if on {
                MCR_NORMAL | MCR_LOOP
            } else {
                MCR_NORMAL
            },
        );
        self.looped = on;
    }

    /// The port write that makes the UART interrupt (looped back): one [`MARKER`] to THR.
    #[inline(always)]
    pub fn raise(&mut self) {
        outb(THR, MARKER);
    }

    /// The same port write, to the scratch register: what [`Uart::raise`] costs without the
    /// interrupt.
    #[inline(always)]
    pub fn touch_scratch(&mut self) {
        outb(SCR, MARKER);
    }

    /// Whether the UART asserts an interrupt now.
    pub fn interrupt_pending(&mut self) -> bool {
        inb(IIR) & IIR_NONE == 0
    }
}
