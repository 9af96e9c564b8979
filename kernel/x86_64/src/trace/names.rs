//! Process names for the trace (user event `USER_NAME`), kept whether tracing is on or not.

use spin::Mutex;
use tessera_abi::trace::NAME_BYTES;

pub const NAMES: usize = 128;

/// (process id, name) pairs; a process named again is renamed. Leaf lock, taken only by the
/// TRACE_EVENT order and the dump; it nests inside a process lock and takes nothing.
static TABLE: Mutex<[(u32, [u8; NAME_BYTES]); NAMES]> =
    Mutex::new([(u32::MAX, [0; NAME_BYTES]); NAMES]);

pub fn set(process: u32, a: u64, b: u64) {
    let mut name = [0u8; NAME_BYTES];
    name[..8].copy_from_slice(&a.to_le_bytes());
    name[8..].copy_from_slice(&b.to_le_bytes());
    let mut table = TABLE.lock();
    let slot = table
        .iter()
        .position(|(p, _)| *p == process)
        .or_else(|| table.iter().position(|(p, _)| *p == u32::MAX));
    // A full table forgets the oldest-listed name rather than refuse a program its event.
    let slot = slot.unwrap_or(0);
    table[slot] = (process, name);
}

/// Every name, in table order.
pub fn each(mut f: impl FnMut(u32, &[u8; NAME_BYTES])) {
    for (p, name) in TABLE.lock().iter().filter(|(p, _)| *p != u32::MAX) {
        f(*p, name);
    }
}
