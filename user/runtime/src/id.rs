//! Chore and channel ids: a task id and an index unique within the task (seed 000 section 3),
//! so an id is unique system-wide, names its task, and prints the same everywhere.
//!
//! Guarantees: a valid id is never 0 and never has bit 63 set, so a lock cell can use 0 for
//! "empty" and bit 63 as its waiter flag (the stand-in for the seed's data-trap bit).

use core::fmt;

/// The bit a lock cell sets beside the holder's id while chores wait on it.
pub(crate) const WAITER_FLAG: u64 = 1 << 63;

/// A task: an address space with one virtual processor per CPU it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(u32);

impl TaskId {
    /// Task ids run from 1 to 2^31 - 1: 0 would make a chore id look like an empty cell.
    pub const fn new(id: u32) -> Option<TaskId> {
        if id == 0 || id >= 1 << 31 {
            None
        } else {
            Some(TaskId(id))
        }
    }

    pub const fn get(self) -> u32 {
        self.0
    }
}

/// A chore: task id in the high half, chore index in the low half.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChoreId(u64);

impl ChoreId {
    pub const fn new(task: TaskId, index: u32) -> ChoreId {
        ChoreId(((task.0 as u64) << 32) | index as u64)
    }

    pub const fn task(self) -> TaskId {
        TaskId((self.0 >> 32) as u32)
    }

    pub const fn index(self) -> u32 {
        self.0 as u32
    }

    /// The word a lock cell holds while this chore holds the lock.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The id another task wrote into a shared channel's slot, taken as it is: that task may
    /// write anything, and a listing only prints it.
    pub(crate) const fn from_foreign(word: u64) -> ChoreId {
        ChoreId(word)
    }

    /// The id a lock cell's word names, without its waiter flag; `None` for an empty cell.
    pub(crate) const fn from_cell(word: u64) -> Option<ChoreId> {
        let id = word & !WAITER_FLAG;
        if id == 0 {
            None
        } else {
            Some(ChoreId(id))
        }
    }
}

impl fmt::Display for ChoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.task().0, self.index())
    }
}

impl fmt::Debug for ChoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chore {self}")
    }
}

/// A channel: owned by a task, indexed within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId {
    pub owner: TaskId,
    pub index: u32,
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "channel {}.{}", self.owner.0, self.index)
    }
}
