//! Echoes the guest's serial output as it streams, annotating backtrace lines.
//!
//! Guarantees: bytes are passed on as soon as they arrive (a prompt without a newline shows at
//! once), unchanged except that a symbolizer's note is inserted just before a line's end
//! (before `\r\n` or `\n`); a `\r` is held back until the next byte shows whether it ends a
//! line, so a note is never written after a carriage return. Complete lines, without their
//! ending and without notes, are kept when capturing, for the parsers of test results. The only
//! byte ever added is a newline ending an unfinished last line when the stream ends.

use std::io::{self, Write};

use crate::symbolize::Symbolizer;

pub struct Console<'a, W: Write> {
    out: W,
    symbolizer: Option<&'a Symbolizer>,
    /// The current line, up to and including the newline once it arrives.
    pending: Vec<u8>,
    /// How much of `pending` has been written to `out`.
    written: usize,
    lines: Option<Vec<String>>,
}

impl<'a, W: Write> Console<'a, W> {
    pub fn new(out: W, symbolizer: Option<&'a Symbolizer>, capture: bool) -> Self {
        Console {
            out,
            symbolizer,
            pending: Vec::new(),
            written: 0,
            lines: capture.then(Vec::new),
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) -> io::Result<()> {
        for &byte in bytes {
            self.pending.push(byte);
            if byte == b'\n' {
                self.end_line()?;
            }
        }
        let ready = self.pending.len() - usize::from(self.pending.last() == Some(&b'\r'));
        if ready > self.written {
            self.out.write_all(&self.pending[self.written..ready])?;
            self.written = ready;
        }
        self.out.flush()
    }

    /// Ends the stream: a last line without a newline still counts, and gets one, so what is
    /// printed next starts on a line of its own.
    pub fn finish(mut self) -> io::Result<Vec<String>> {
        if !self.pending.is_empty() {
            self.end_line()?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()?;
        Ok(self.lines.unwrap_or_default())
    }

    fn end_line(&mut self) -> io::Result<()> {
        let mut body_end = self.pending.len();
        if self.pending.last() == Some(&b'\n') {
            body_end -= 1;
        }
        if body_end > 0 && self.pending[body_end - 1] == b'\r' {
            body_end -= 1;
        }
        let text = String::from_utf8_lossy(&self.pending[..body_end]).into_owned();
        let note = self.symbolizer.and_then(|s| s.annotate(&text));
        if body_end > self.written {
            self.out.write_all(&self.pending[self.written..body_end])?;
        }
        if let Some(note) = note {
            write!(self.out, " {note}")?;
        }
        self.out
            .write_all(&self.pending[body_end.max(self.written)..])?;
        if let Some(lines) = &mut self.lines {
            lines.push(text);
        }
        self.pending.clear();
        self.written = 0;
        Ok(())
    }
}

/// Writes to the terminal and to a log file at once.
pub struct Tee<A: Write, B: Write>(pub A, pub B);

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf)?;
        self.1.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, Vec<String>) {
        let mut out = Vec::new();
        let mut console = Console::new(&mut out, None, true);
        for chunk in chunks {
            console.feed(chunk).unwrap();
        }
        let lines = console.finish().unwrap();
        (out, lines)
    }

    #[test]
    fn output_passes_through_unchanged_and_lines_are_captured() {
        let (out, lines) = run(&[b"hello\r\nwor", b"ld\nprompt> "]);
        assert_eq!(
            out, b"hello\r\nworld\nprompt> \n",
            "the unfinished last line is ended"
        );
        assert_eq!(lines, vec!["hello", "world", "prompt> "]);
    }

    #[test]
    fn partial_lines_are_written_at_once_but_a_trailing_cr_waits() {
        let mut out = Vec::new();
        let mut console = Console::new(&mut out, None, false);
        console.feed(b"> ").unwrap();
        console.feed(b"abc\r").unwrap();
        drop(console);
        assert_eq!(out, b"> abc");
    }

    #[test]
    fn notes_go_before_the_line_ending_even_across_chunks() {
        let kmain = vec![(0xffff_ffff_8010_0000, 0x100, "kmain".to_owned())];
        let symbolizer = Symbolizer::from_symbols(kmain, Path::new("/"));
        let mut out = Vec::new();
        let mut console = Console::new(&mut out, Some(&symbolizer), true);
        for chunk in [
            &b"  RIP 0xffff"[..],
            b"ffff80100010\r",
            b"\n  #1 0xffffffff80100020\n",
        ] {
            console.feed(chunk).unwrap();
        }
        let lines = console.finish().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  RIP 0xffffffff80100010 kmain+0x10\r\n  #1 0xffffffff80100020 kmain+0x20\n"
        );
        assert_eq!(
            lines,
            vec!["  RIP 0xffffffff80100010", "  #1 0xffffffff80100020"]
        );
    }

    #[test]
    fn invalid_utf8_is_echoed_raw_and_captured_lossily() {
        let (out, lines) = run(&[b"a\xffb\n"]);
        assert_eq!(out, b"a\xffb\n");
        assert_eq!(lines, vec!["a\u{fffd}b"]);
    }
}
