//! The per-CPU trace rings: fixed arrays of records, each written only by its own CPU, with
//! interrupts off (the kernel's paths, and interrupt handlers that interrupted user mode or
//! the idle loop, never a path of the same CPU), so a record needs no lock and no atomic
//! read-modify-write. A full ring keeps its first records and counts the rest as lost.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use spin::Once;
use tessera_abi::trace::{Kind, Record};

/// Records per CPU: 512 KiB each.
pub const RECORDS: usize = 16384;

pub struct Ring {
    /// Records written since the start, kept or lost.
    head: AtomicUsize,
    words: Box<[AtomicU64]>,
}

/// One ring per CPU online when tracing first started (CPUs never come later).
static RINGS: Once<Box<[Ring]>> = Once::new();

fn rings() -> &'static [Ring] {
    RINGS.call_once(|| {
        (0..crate::cpu::percpu::cpu_count())
            .map(|_| Ring {
                head: AtomicUsize::new(0),
                words: (0..RECORDS * 4)
                    .map(|_| AtomicU64::new(0))
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
            })
            .collect()
    })
}

/// Empties every ring (a slot's kind word is zeroed, so an unwritten slot decodes as none).
pub fn reset() {
    for ring in rings() {
        let used = ring.head.load(Ordering::Acquire).min(RECORDS);
        for slot in 0..used {
            ring.words[slot * 4 + 1].store(0, Ordering::Relaxed);
        }
        ring.head.store(0, Ordering::Release);
    }
}

/// Out of line, with the event in registers: a site costs nothing but its test while off.
#[inline(never)]
pub fn record(cpu: u32, kind: Kind, process: u32, code: u16, a: u64, b: u64) {
    let Some(ring) = RINGS.get().and_then(|r| r.get(cpu as usize)) else {
        return;
    };
    let i = ring.head.load(Ordering::Relaxed);
    if i < RECORDS {
        let r = Record {
            tsc: crate::tsc(),
            kind,
            cpu: cpu as u8,
            process,
            code,
            a,
            b,
        };
        for (w, value) in ring.words[i * 4..i * 4 + 4].iter().zip(r.pack()) {
            w.store(value, Ordering::Relaxed);
        }
    }
    ring.head.store(i + 1, Ordering::Release);
}

/// CPU `cpu`'s kept records' words and how many it lost.
pub fn contents(cpu: usize) -> Option<(&'static [AtomicU64], u64)> {
    let ring = RINGS.get()?.get(cpu)?;
    let head = ring.head.load(Ordering::Acquire);
    let kept = head.min(RECORDS);
    Some((&ring.words[..kept * 4], (head - kept) as u64))
}

/// How many CPUs have a ring.
pub fn count() -> usize {
    RINGS.get().map_or(0, |r| r.len())
}
