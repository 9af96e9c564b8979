//! The 16550 UART at COM1, through the `uart_16550` crate.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU32, Ordering};
use spin::Mutex;
use uart_16550::SerialPort;

const COM1: u16 = 0x3f8;
const NO_OWNER: u32 = u32::MAX;

/// Protects COM1's transmit side. Leaf lock. `OWNER` is the CPU holding it, so a nested
/// panic on that CPU can tell that waiting for it would never end.
static SERIAL: Mutex<Option<SerialPort>> = Mutex::new(None);
static OWNER: AtomicU32 = AtomicU32::new(NO_OWNER);

fn port() -> SerialPort {
    // SAFETY: COM1 is the standard UART on every PC QEMU emulates; only this module drives it.
    let mut p = unsafe { SerialPort::new(COM1) };
    p.init();
    p
}

pub fn write_fmt(args: fmt::Arguments) {
    let cpu = crate::cpu::current_id_or_boot();
    if OWNER.load(Ordering::Relaxed) == cpu {
        emergency_write(args);
        return;
    }
    let mut guard = SERIAL.lock();
    OWNER.store(cpu, Ordering::Relaxed);
    let p = guard.get_or_insert_with(port);
    let _ = p.write_fmt(args);
    OWNER.store(NO_OWNER, Ordering::Relaxed);
}

/// Writes without the lock: for panics, where the lock may be held by the panicking CPU.
pub fn emergency_write(args: fmt::Arguments) {
    let mut p = port();
    let _ = p.write_fmt(args);
}

/// A received byte, if one is waiting (polled; the user-level driver will own input).
pub fn read_byte() -> Option<u8> {
    // SAFETY: reading the line-status and data registers of COM1 has no side effect beyond
    // consuming the received byte, which is the point.
    unsafe {
        let lsr = x86_64::instructions::port::Port::<u8>::new(COM1 + 5).read();
        (lsr & 1 != 0).then(|| x86_64::instructions::port::Port::<u8>::new(COM1).read())
    }
}
