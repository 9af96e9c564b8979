//! Reads the dump the kernel writes to COM2 at `trace stop` (format: `tessera_abi::trace`).
//! The port's file may hold several dumps (one per stop); the last complete one is kept.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use tessera_abi::trace::{Record, DUMP_MAGIC, END_MAGIC, NAMES_MAGIC, NAME_BYTES};

/// One CPU's ring as dumped.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuRing {
    pub cpu: u64,
    pub records: Vec<Record>,
    /// Records kept in the ring that decode as no event (a slot a CPU was still writing).
    pub unreadable: u64,
    /// Events the CPU could not keep: its ring was full.
    pub lost: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dump {
    pub tsc_hz: u64,
    pub cpus: Vec<CpuRing>,
    pub names: BTreeMap<u32, String>,
}

struct Words<'a>(&'a [u8]);

impl Words<'_> {
    fn next(&mut self) -> Result<u64> {
        let Some((word, rest)) = self.0.split_first_chunk::<8>() else {
            bail!("the trace dump ends in the middle");
        };
        self.0 = rest;
        Ok(u64::from_le_bytes(*word))
    }

    fn expect(&mut self, magic: u64, what: &str) -> Result<()> {
        let got = self.next()?;
        if got != magic {
            bail!("the trace dump has {got:#x} where {what} belongs");
        }
        Ok(())
    }
}

/// The last complete dump in `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Dump> {
    let mut words = Words(bytes);
    let mut last = None;
    while !words.0.is_empty() {
        last = Some(one(&mut words).context("could not read the trace dump")?);
    }
    last.context("the trace port wrote nothing (no `trace stop`?)")
}

fn one(w: &mut Words) -> Result<Dump> {
    w.expect(DUMP_MAGIC, "the dump's magic")?;
    let tsc_hz = w.next()?;
    let count = w.next()?;
    if count > 256 {
        bail!("the trace dump claims {count} CPUs");
    }
    let mut cpus = Vec::new();
    for _ in 0..count {
        let cpu = w.next()?;
        let kept = w.next()?;
        let lost = w.next()?;
        let mut records = Vec::new();
        let mut unreadable = 0;
        for _ in 0..kept {
            let words = [w.next()?, w.next()?, w.next()?, w.next()?];
            match Record::unpack(words) {
                Some(r) => records.push(r),
                None => unreadable += 1,
            }
        }
        cpus.push(CpuRing {
            cpu,
            records,
            unreadable,
            lost,
        });
    }
    w.expect(NAMES_MAGIC, "the name table")?;
    let n = w.next()?;
    let mut names = BTreeMap::new();
    for _ in 0..n {
        let pid = w.next()? as u32;
        let mut raw = Vec::with_capacity(NAME_BYTES);
        raw.extend(w.next()?.to_le_bytes());
        raw.extend(w.next()?.to_le_bytes());
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        names.insert(pid, String::from_utf8_lossy(&raw[..end]).into_owned());
    }
    w.expect(END_MAGIC, "the dump's end")?;
    Ok(Dump {
        tsc_hz,
        cpus,
        names,
    })
}

#[cfg(test)]
pub(crate) fn encode(d: &Dump) -> Vec<u8> {
    let mut out: Vec<u64> = vec![DUMP_MAGIC, d.tsc_hz, d.cpus.len() as u64];
    for c in &d.cpus {
        out.extend([c.cpu, c.records.len() as u64, c.lost]);
        for r in &c.records {
            out.extend(r.pack());
        }
    }
    out.extend([NAMES_MAGIC, d.names.len() as u64]);
    for (pid, name) in &d.names {
        let mut raw = [0u8; NAME_BYTES];
        raw[..name.len()].copy_from_slice(name.as_bytes());
        out.push(u64::from(*pid));
        out.push(u64::from_le_bytes(raw[..8].try_into().unwrap()));
        out.push(u64::from_le_bytes(raw[8..].try_into().unwrap()));
    }
    out.push(END_MAGIC);
    out.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_abi::trace::Kind;

    #[test]
    fn a_dump_round_trips_and_the_last_one_wins() {
        let r = Record {
            tsc: 5,
            kind: Kind::Wake,
            cpu: 1,
            process: 3,
            code: 0,
            a: 0,
            b: 0,
        };
        let d = Dump {
            tsc_hz: 1000,
            cpus: vec![CpuRing {
                cpu: 0,
                records: vec![r],
                unreadable: 0,
                lost: 2,
            }],
            names: [(3, "usertests".to_string())].into(),
        };
        assert_eq!(parse(&encode(&d)).unwrap(), d);
        let mut two = encode(&Dump {
            tsc_hz: 1,
            ..d.clone()
        });
        two.extend(encode(&d));
        assert_eq!(parse(&two).unwrap(), d);
    }

    #[test]
    fn truncated_or_foreign_bytes_are_refused() {
        let d = Dump {
            tsc_hz: 1,
            cpus: vec![],
            names: BTreeMap::new(),
        };
        let bytes = encode(&d);
        assert!(parse(&bytes[..bytes.len() - 8]).is_err());
        assert!(parse(b"hello world, not a dump").is_err());
        assert!(parse(&[]).is_err());
    }
}
