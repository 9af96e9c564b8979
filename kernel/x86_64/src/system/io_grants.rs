//! Which I/O-port range each process may use from ring 3, as the core's IoPorts orders grant
//! it (`Platform::io_ports_granted`). The CPU loop opens the range's ports in the TSS I/O
//! bitmap of the CPU a process runs on, and closes them for every other process.
//!
//! Invariants: slot `i` is (generation + 1, range + 1) of process table index `i`, packed in
//! one atomic word, so a grant made on one CPU is seen whole by another, and a later process
//! in the same slot (another generation) never inherits it. Ranges: `abi::boot::io_ports`.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Once;
use tessera_core::cap::ObjId;

static GRANTS: Once<Box<[AtomicU64]>> = Once::new();

pub fn init(processes: usize) {
    GRANTS.call_once(|| (0..processes).map(|_| AtomicU64::new(0)).collect());
}

fn pack(process: ObjId, range: Option<u32>) -> u64 {
    range.map_or(0, |r| {
        ((process.generation as u64 + 1) << 32) | (r as u64 + 1)
    })
}

pub fn set(process: ObjId, range: Option<u32>) {
    if let Some(slot) = GRANTS.get().and_then(|g| g.get(process.index as usize)) {
        slot.store(pack(process, range), Ordering::Release);
    }
}

/// The range `process` may use, if any.
pub fn of(process: ObjId) -> Option<u32> {
    let word = GRANTS
        .get()?
        .get(process.index as usize)?
        .load(Ordering::Acquire);
    (word != 0 && (word >> 32) == process.generation as u64 + 1).then(|| (word as u32) - 1)
}
