//! The line editor: reads console input, echoes it, handles backspace, returns whole lines.
//!
//! Guarantees: a returned line holds only printable ASCII and at most [`MAX_LINE`] bytes;
//! bytes typed past that are ignored (and not echoed), so what is on screen is the line.

use tessera_user::console::{self, CHUNK};

/// Longest line kept.
pub const MAX_LINE: usize = 120;

pub struct LineEditor {
    buf: [u8; MAX_LINE],
    len: usize,
    pending: [u8; CHUNK],
    pending_len: usize,
    pending_pos: usize,
}

impl LineEditor {
    pub const fn new() -> LineEditor {
        LineEditor {
            buf: [0; MAX_LINE],
            len: 0,
            pending: [0; CHUNK],
            pending_len: 0,
            pending_pos: 0,
        }
    }

    fn next_byte(&mut self) -> u8 {
        while self.pending_pos == self.pending_len {
            self.pending_pos = 0;
            self.pending_len = console::read(&mut self.pending).unwrap_or(0);
        }
        self.pending_pos += 1;
        self.pending[self.pending_pos - 1]
    }

    /// Waits for a line (ended by CR or LF) and returns it.
    pub fn read_line(&mut self) -> &str {
        self.len = 0;
        loop {
            match self.next_byte() {
                b'\r' | b'\n' => {
                    console::write_bytes(b"\r\n");
                    return core::str::from_utf8(&self.buf[..self.len]).unwrap_or("");
                }
                0x08 | 0x7f if self.len > 0 => {
                    self.len -= 1;
                    console::write_bytes(b"\x08 \x08");
                }
                b @ 0x20..=0x7e if self.len < MAX_LINE => {
                    self.buf[self.len] = b;
                    self.len += 1;
                    console::write_bytes(&[b]);
                }
                _ => {}
            }
        }
    }
}
