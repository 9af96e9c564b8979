//! The tertiary trap handlers of seed 000 section 5: each chore's control block points at a
//! table of handlers, replaceable per chore (a chore that handles its own divide errors, or
//! maps a region lazily). The primary handler is the fault keeper that saves the chore's state;
//! it hands the fault to `dispatch`, which looks in the faulting chore's table.

use crate::id::ChoreId;

/// What a fault keeper passes on: the vector, the faulting address for page faults, and the
/// saved instruction pointer, which a handler may move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trap {
    pub vector: u8,
    pub address: u64,
    pub rip: u64,
}

/// What the keeper should do once a tertiary handler ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapOutcome {
    /// Resume the chore at `trap.rip` (possibly changed by the handler).
    Resume,
    /// End this chore only, reporting why.
    EndChore,
}

pub type TrapHandler = fn(ChoreId, &mut Trap) -> TrapOutcome;

/// Handlers indexed by x86 exception vector (0..32); `None` ends the chore.
#[derive(Clone, Copy, Debug)]
pub struct TrapTable {
    pub handlers: [Option<TrapHandler>; 32],
}

/// The table every chore starts with: no handlers, so every fault ends the chore.
pub static DEFAULT_TRAPS: TrapTable = TrapTable {
    handlers: [None; 32],
};

impl TrapTable {
    pub fn dispatch(&self, chore: ChoreId, trap: &mut Trap) -> TrapOutcome {
        match self.handlers.get(trap.vector as usize).copied().flatten() {
            Some(handler) => handler(chore, trap),
            None => TrapOutcome::EndChore,
        }
    }
}
