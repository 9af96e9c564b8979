//! Console output and input through the serial driver's endpoint ([`slots::CONSOLE`]), and
//! the wire format of its orders (shared with the driver, so both sides agree).
//!
//! Guarantees: `print!`/`println!` send the text in order, in CALLs of at most
//! [`CHUNK`] bytes; one `println!` is split only at chunk boundaries, so lines of different
//! programs may interleave but never lose bytes. Output to a missing console is dropped.

use crate::invoke;
use crate::slots;
use core::fmt;
use tessera_abi::Error;

/// Console orders, answered by the serial driver.
pub mod orders {
    /// `d0` = length (at most [`super::CHUNK`]), `d1..d3` = the bytes. Replies when written.
    pub const WRITE: u32 = 1;
    /// Replies with buffered input in the WRITE format: at least one byte, waiting for input
    /// if there is none; a second reader while one waits gets zero bytes at once.
    pub const READ: u32 = 2;
    /// `d0` = 0: QEMU exits with success; otherwise with failure.
    pub const SHUTDOWN: u32 = 3;
    /// `d0` = rounds (1 to [`super::MAX_IRQ_ROUNDS`]): the driver makes COM1 interrupt it that
    /// many times (after one untimed probe) and replies `[rounds, ticks, overhead, 0]`:
    /// `ticks` summed from just before the port write that raises each interrupt to the
    /// driver running with the kernel's IRQ POST, `overhead` the same TSC reads around a
    /// harmless port write. `rounds` = 0: refused (rounds out of range, a run in progress, or
    /// the UART did not raise its interrupt line).
    pub const BENCH_IRQ: u32 = 4;
}

/// The most rounds one [`orders::BENCH_IRQ`] runs, so the caller's wait is bounded.
pub const MAX_IRQ_ROUNDS: u64 = 100_000;

/// Bytes carried by one WRITE or READ message.
pub const CHUNK: usize = 24;

/// Packs up to [`CHUNK`] bytes into the four data words: length, then the bytes.
pub fn pack(bytes: &[u8]) -> [u64; 4] {
    let n = bytes.len().min(CHUNK);
    let mut raw = [0u8; CHUNK];
    raw[..n].copy_from_slice(&bytes[..n]);
    let word = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    [n as u64, word(0), word(1), word(2)]
}

/// Unpacks four data words into `out`; returns the number of bytes (clamped to [`CHUNK`]).
pub fn unpack(words: &[u64; 4], out: &mut [u8; CHUNK]) -> usize {
    for i in 0..3 {
        out[i * 8..i * 8 + 8].copy_from_slice(&words[i + 1].to_le_bytes());
    }
    (words[0] as usize).min(CHUNK)
}

/// Writes `bytes` to the console.
pub fn write_bytes(bytes: &[u8]) {
    for chunk in bytes.chunks(CHUNK) {
        if invoke::call(slots::CONSOLE, orders::WRITE, &pack(chunk), &[]).is_err() {
            return;
        }
    }
}

/// Waits for console input; returns how many bytes were put in `out`.
pub fn read(out: &mut [u8; CHUNK]) -> Result<usize, Error> {
    let r = invoke::call(slots::CONSOLE, orders::READ, &[], &[])?;
    Ok(unpack(&r.data, out))
}

/// Asks the serial driver to end the machine; returns only if it could not.
pub fn shutdown(success: bool) -> Error {
    match invoke::call(slots::CONSOLE, orders::SHUTDOWN, &[!success as u64], &[]) {
        Ok(_) => Error::BadState,
        Err(e) => e,
    }
}

/// Collects formatted text into one chunk at a time, so a line costs few CALLs.
struct Console {
    buf: [u8; CHUNK],
    len: usize,
}

impl Console {
    fn flush(&mut self) {
        write_bytes(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if b == b'\n' {
                self.buf[self.len] = b'\r';
                self.len += 1;
                if self.len == CHUNK {
                    self.flush();
                }
            }
            self.buf[self.len] = b;
            self.len += 1;
            if self.len == CHUNK {
                self.flush();
            }
        }
        Ok(())
    }
}

/// Prints formatted text (used by `print!`/`println!`).
pub fn print_fmt(args: fmt::Arguments) {
    let mut c = Console {
        buf: [0; CHUNK],
        len: 0,
    };
    let _ = fmt::write(&mut c, args);
    c.flush();
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print_fmt(format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}
