//! A client of the gdb remote serial protocol, as much of it as single-stepping QEMU's gdb stub
//! takes: packets, breakpoints, continue, step, registers by number and memory.
//!
//! Guarantees: every packet sent carries its checksum and every reply's checksum is checked;
//! replies are run-length and escape decoded; an error reply (`E NN`) or an unexpected one is
//! an error naming the request. QEMU 7.2 refuses `QStartNoAckMode`, so the client acks each
//! reply (`+`) and skips the stub's acks.

use std::io::{BufReader, BufWriter, Read, Write};

use anyhow::{bail, Context, Result};

/// How the target stopped (a stop reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// `S NN` or `T NN ...`: stopped with a signal (5 for a breakpoint or a step).
    Signal(u8),
    /// `W NN` or `X NN`: the target is gone.
    Exited(u8),
}

/// A connection to a gdb stub over any byte stream (a Unix socket to QEMU, a buffer in tests).
pub struct Client<S: Read + Write> {
    reader: BufReader<S>,
    writer: BufWriter<S>,
}

impl<S: Read + Write + TryClone> Client<S> {
    pub fn new(stream: S) -> Result<Self> {
        let writer = BufWriter::new(stream.try_clone_stream()?);
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
        })
    }
}

/// A stream that can be split into a reading and a writing half.
pub trait TryClone: Sized {
    fn try_clone_stream(&self) -> Result<Self>;
}

impl TryClone for std::os::unix::net::UnixStream {
    fn try_clone_stream(&self) -> Result<Self> {
        self.try_clone().context("could not clone the gdb socket")
    }
}

impl<S: Read + Write> Client<S> {
    /// Sends `request` and returns the reply's payload.
    pub fn request(&mut self, request: &str) -> Result<Vec<u8>> {
        self.send(request)?;
        self.receive()
            .with_context(|| format!("no reply from the gdb stub to `{request}`"))
    }

    /// Sends `request` without waiting for a reply (`c` after the last stop we care about).
    pub fn send(&mut self, request: &str) -> Result<()> {
        self.writer.write_all(&frame(request.as_bytes()))?;
        self.writer
            .flush()
            .context("could not write to the gdb stub")
    }

    /// The next packet's payload, acked; acks and stray bytes before it are skipped.
    fn receive(&mut self) -> Result<Vec<u8>> {
        let mut byte = [0u8];
        loop {
            self.reader.read_exact(&mut byte)?;
            if byte[0] == b'$' {
                break;
            }
        }
        let mut body = Vec::new();
        loop {
            self.reader.read_exact(&mut byte)?;
            if byte[0] == b'#' {
                break;
            }
            body.push(byte[0]);
        }
        let mut sum = [0u8; 2];
        self.reader.read_exact(&mut sum)?;
        let expected = std::str::from_utf8(&sum)
            .ok()
            .and_then(|s| u8::from_str_radix(s, 16).ok())
            .context("a reply's checksum is not hex")?;
        if checksum(&body) != expected {
            bail!("a reply's checksum does not match its payload");
        }
        self.writer.write_all(b"+")?;
        self.writer.flush()?;
        decode(&body)
    }

    /// A request whose only good reply is `OK`.
    fn expect_ok(&mut self, request: &str) -> Result<()> {
        let reply = self.request(request)?;
        if reply != b"OK" {
            bail!(
                "the gdb stub answered `{request}` with `{}`",
                String::from_utf8_lossy(&reply)
            );
        }
        Ok(())
    }

    pub fn insert_breakpoint(&mut self, addr: u64) -> Result<()> {
        self.expect_ok(&format!("Z0,{addr:x},1"))
    }

    pub fn remove_breakpoint(&mut self, addr: u64) -> Result<()> {
        self.expect_ok(&format!("z0,{addr:x},1"))
    }

    /// Runs until the next stop.
    pub fn resume(&mut self) -> Result<Stop> {
        let reply = self.request("c")?;
        parse_stop(&reply)
    }

    /// Executes one instruction (QEMU masks interrupts and timers while it steps).
    pub fn step(&mut self) -> Result<Stop> {
        let reply = self.request("s")?;
        parse_stop(&reply)
    }

    /// Register `number` (as the target description numbers them), little-endian.
    pub fn register(&mut self, number: usize) -> Result<u64> {
        let reply = self.request(&format!("p{number:x}"))?;
        let bytes = hex_bytes(&reply)
            .with_context(|| format!("register {number}: `{}`", String::from_utf8_lossy(&reply)))?;
        Ok(bytes
            .iter()
            .take(8)
            .rev()
            .fold(0, |v, b| (v << 8) | u64::from(*b)))
    }

    /// `len` bytes at virtual address `addr` in the current address space, or `None` where
    /// they are not mapped.
    pub fn memory(&mut self, addr: u64, len: usize) -> Result<Option<Vec<u8>>> {
        let reply = self.request(&format!("m{addr:x},{len:x}"))?;
        if reply.first() == Some(&b'E') {
            return Ok(None);
        }
        let bytes = hex_bytes(&reply).context("a memory reply is not hex")?;
        Ok((bytes.len() == len).then_some(bytes))
    }

    /// The target description document `annex` (`target.xml` and what it includes).
    pub fn features(&mut self, annex: &str) -> Result<String> {
        let mut text = Vec::new();
        loop {
            let reply =
                self.request(&format!("qXfer:features:read:{annex}:{:x},ffb", text.len()))?;
            let (kind, data) = reply.split_first().context("an empty qXfer reply")?;
            text.extend_from_slice(data);
            match kind {
                b'l' => break,
                b'm' => {}
                _ => bail!(
                    "the gdb stub has no target description `{annex}`: `{}`",
                    String::from_utf8_lossy(&reply)
                ),
            }
        }
        String::from_utf8(text).context("a target description is not UTF-8")
    }
}

fn checksum(data: &[u8]) -> u8 {
    data.iter().fold(0u8, |s, b| s.wrapping_add(*b))
}

/// `$data#ck`, with the bytes the protocol reserves escaped.
fn frame(data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(data.len());
    for &b in data {
        if matches!(b, b'$' | b'#' | b'}' | b'*') {
            body.extend_from_slice(&[b'}', b ^ 0x20]);
        } else {
            body.push(b);
        }
    }
    let mut out = vec![b'$'];
    out.extend_from_slice(&body);
    out.extend_from_slice(format!("#{:02x}", checksum(&body)).as_bytes());
    out
}

/// Undoes the escapes (`}` x, for x ^ 0x20) and run-length encoding (`c*n`: c repeated n - 29
/// more times) of a payload.
fn decode(body: &[u8]) -> Result<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut bytes = body.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'}' => out.push(bytes.next().context("a payload ends in an escape")? ^ 0x20),
            b'*' => {
                let count = bytes.next().context("a payload ends in a run length")?;
                let last = *out.last().context("a run length with nothing to repeat")?;
                let n = count
                    .checked_sub(29)
                    .context("a run length below its minimum")?;
                out.extend(std::iter::repeat_n(last, usize::from(n)));
            }
            _ => out.push(b),
        }
    }
    Ok(out)
}

fn hex_bytes(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

fn parse_stop(reply: &[u8]) -> Result<Stop> {
    let code = || {
        reply
            .get(1..3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
    };
    match (reply.first(), code()) {
        (Some(b'S' | b'T'), Some(signal)) => Ok(Stop::Signal(signal)),
        (Some(b'W' | b'X'), Some(status)) => Ok(Stop::Exited(status)),
        _ => bail!("not a stop reply: `{}`", String::from_utf8_lossy(reply)),
    }
}

/// The numbers of registers `names` in the target description (`target.xml`, `includes` the
/// documents it names): registers are numbered in document order from 0, and a `regnum`
/// attribute restarts the count.
pub fn register_numbers(
    target: &str,
    includes: &mut dyn FnMut(&str) -> Result<String>,
    names: &[&str],
) -> Result<Vec<usize>> {
    let mut all = Vec::new();
    collect_registers(target, includes, &mut all, 0)?;
    let mut next = 0;
    let mut numbered = Vec::new();
    for (name, regnum) in all {
        let n = regnum.unwrap_or(next);
        numbered.push((name, n));
        next = n + 1;
    }
    names
        .iter()
        .map(|want| {
            numbered
                .iter()
                .find(|(name, _)| name == want)
                .map(|(_, n)| *n)
                .with_context(|| format!("the target description has no register `{want}`"))
        })
        .collect()
}

fn collect_registers(
    doc: &str,
    includes: &mut dyn FnMut(&str) -> Result<String>,
    out: &mut Vec<(String, Option<usize>)>,
    depth: usize,
) -> Result<()> {
    if depth > 4 {
        bail!("the target description includes itself");
    }
    for tag in doc.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        if let Some(attrs) = tag.strip_prefix("reg ") {
            let name = attribute(attrs, "name").context("a <reg> without a name")?;
            let regnum = attribute(attrs, "regnum")
                .map(|n| n.parse().context("a regnum that is not a number"))
                .transpose()?;
            out.push((name.to_string(), regnum));
        } else if let Some(attrs) = tag.strip_prefix("xi:include ") {
            let href = attribute(attrs, "href").context("an <xi:include> without href")?;
            collect_registers(&includes(href)?, includes, out, depth + 1)?;
        }
    }
    Ok(())
}

fn attribute<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let at = attrs.find(&format!("{name}=\""))? + name.len() + 2;
    attrs[at..].split('"').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A stream whose reads come from `input` and whose writes are kept.
    struct Fake {
        input: Cursor<Vec<u8>>,
        output: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
    }

    impl Read for Fake {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Fake {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.output.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn client(replies: &[&str]) -> (Client<Fake>, std::rc::Rc<std::cell::RefCell<Vec<u8>>>) {
        let mut input = Vec::new();
        for r in replies {
            input.extend_from_slice(b"+");
            input.extend_from_slice(&frame(r.as_bytes()));
        }
        let output = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let reader = Fake {
            input: Cursor::new(input),
            output: output.clone(),
        };
        let writer = Fake {
            input: Cursor::new(Vec::new()),
            output: output.clone(),
        };
        (
            Client {
                reader: BufReader::new(reader),
                writer: BufWriter::new(writer),
            },
            output,
        )
    }

    #[test]
    fn packets_carry_their_checksum_and_escapes() {
        assert_eq!(frame(b"s"), b"$s#73");
        assert_eq!(frame(b"OK"), b"$OK#9a");
        assert_eq!(frame(b"a#b"), b"$a}\x03b#43");
    }

    #[test]
    fn replies_are_run_length_and_escape_decoded() {
        assert_eq!(decode(b"0* ").unwrap(), b"0000");
        assert_eq!(decode(b"a}\x03b").unwrap(), b"a#b");
        assert!(decode(b"*!").is_err(), "a run with nothing before it");
        assert!(decode(b"x}").is_err());
    }

    #[test]
    fn requests_are_framed_and_replies_acked() {
        let (mut c, out) = client(&["T05thread:01;", "f0ff000000000000"]);
        assert_eq!(c.step().unwrap(), Stop::Signal(5));
        assert_eq!(c.register(16).unwrap(), 0xfff0);
        assert_eq!(out.borrow().as_slice(), b"$s#73+$p10#d1+");
    }

    #[test]
    fn a_bad_checksum_is_refused() {
        let (mut c, _) = client(&[]);
        c.reader = BufReader::new(Fake {
            input: Cursor::new(b"+$OK#00".to_vec()),
            output: Default::default(),
        });
        assert!(c.request("?").is_err());
    }

    #[test]
    fn stops_exits_errors_and_memory_are_told_apart() {
        let (mut c, _) = client(&["W00", "S05", "E14", "0a0b", "OK", "E01"]);
        assert_eq!(c.resume().unwrap(), Stop::Exited(0));
        assert_eq!(c.resume().unwrap(), Stop::Signal(5));
        assert_eq!(c.memory(0x1000, 2).unwrap(), None);
        assert_eq!(c.memory(0x1000, 2).unwrap(), Some(vec![10, 11]));
        c.insert_breakpoint(0x401000).unwrap();
        assert!(c.remove_breakpoint(0x401000).is_err());
    }

    #[test]
    fn registers_are_numbered_in_document_order_through_includes() {
        let target = r#"<target><architecture>i386:x86-64</architecture><xi:include href="core.xml"/><xi:include href="sys.xml"/></target>"#;
        let mut includes = |href: &str| -> Result<String> {
            Ok(match href {
                "core.xml" => r#"<feature><reg name="rax" bitsize="64"/><reg name="rip" bitsize="64" regnum="16"/><reg name="eflags" bitsize="32"/></feature>"#.into(),
                "sys.xml" => r#"<feature><reg name="cr0" bitsize="64"/><reg name="cr3" bitsize="64"/></feature>"#.into(),
                other => bail!("no {other}"),
            })
        };
        assert_eq!(
            register_numbers(target, &mut includes, &["rax", "rip", "cr3"]).unwrap(),
            [0, 16, 19]
        );
        assert!(register_numbers(target, &mut includes, &["cr9"]).is_err());
    }

    #[test]
    fn features_are_read_in_chunks() {
        let (mut c, out) = client(&["m<a>", "l</a>"]);
        assert_eq!(c.features("target.xml").unwrap(), "<a></a>");
        let sent = String::from_utf8(out.borrow().clone()).unwrap();
        assert!(sent.contains("qXfer:features:read:target.xml:0,ffb"));
        assert!(sent.contains("qXfer:features:read:target.xml:3,ffb"));
    }
}
