//! Writes the rings and the name table to COM2 in the dump format of `tessera_abi::trace`.
//! COM2 is the kernel's alone (no user grant covers it), and nothing else writes to it.

use core::sync::atomic::Ordering;
use tessera_abi::trace::{DUMP_MAGIC, END_MAGIC, NAMES_MAGIC};
use uart_16550::SerialPort;

use super::{names, ring};

const COM2: u16 = 0x2f8;

/// Writes the dump; returns the events recorded (kept and lost) on every CPU.
pub fn write() -> u64 {
    // SAFETY: COM2 is the standard second UART; only this module touches its ports.
    let mut port = unsafe { SerialPort::new(COM2) };
    port.init();
    let mut word = |w: u64| {
        for b in w.to_le_bytes() {
            port.send_raw(b);
        }
    };
    let cpus = ring::count();
    let mut total = 0;
    word(DUMP_MAGIC);
    word(crate::apic::lapic::tsc_hz());
    word(cpus as u64);
    for cpu in 0..cpus {
        let (words, lost) = ring::contents(cpu).unwrap_or((&[], 0));
        word(cpu as u64);
        word((words.len() / 4) as u64);
        word(lost);
        total += (words.len() / 4) as u64 + lost;
        for w in words {
            word(w.load(Ordering::Relaxed));
        }
    }
    let mut listed = [(0u32, [0u8; 16]); names::NAMES];
    let mut n = 0;
    names::each(|p, name| {
        listed[n] = (p, *name);
        n += 1;
    });
    word(NAMES_MAGIC);
    word(n as u64);
    for (p, name) in &listed[..n] {
        word(u64::from(*p));
        for half in name.chunks(8) {
            word(u64::from_le_bytes(half.try_into().unwrap_or([0; 8])));
        }
    }
    word(END_MAGIC);
    total
}
