//! Process states, priorities and the `ps`-style record a shell shows.

/// Priority levels: 0 is the lowest, `PRIORITY_LEVELS - 1` the highest.
pub const PRIORITY_LEVELS: u64 = 32;

/// The state of a process as users see it (the kernel-internal KernStall is shown as
/// `Stalled`; seed 002).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessState {
    /// Runs in user mode on a CPU or waits for one in a run queue.
    Running = 0,
    /// In an open wait (after RETURN): any message may arrive.
    Available = 1,
    /// In a closed wait (after CALL): only the reply through its resume capability may arrive.
    Waiting = 2,
    /// Its invocation is queued on a stall queue and restarts from the save area when woken.
    Stalled = 3,
    /// Stopped by a HALT order (or never started).
    Halted = 4,
}

impl ProcessState {
    /// Decodes a state code.
    pub const fn from_raw(raw: u64) -> Option<ProcessState> {
        match raw {
            0 => Some(ProcessState::Running),
            1 => Some(ProcessState::Available),
            2 => Some(ProcessState::Waiting),
            3 => Some(ProcessState::Stalled),
            4 => Some(ProcessState::Halted),
            _ => None,
        }
    }

    /// A short name for a `ps` listing.
    pub const fn name(self) -> &'static str {
        match self {
            ProcessState::Running => "running",
            ProcessState::Available => "available",
            ProcessState::Waiting => "waiting",
            ProcessState::Stalled => "stalled",
            ProcessState::Halted => "halted",
        }
    }
}

/// The stall queue a process owns (seed 002): it was woken from the queue's head, and the
/// resource is reserved for it until it uses it or leaves the running state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueOwned {
    /// It owns no queue.
    None,
    /// The post pool's queue. Never reported since each process has its own allotment of
    /// post activities (nobody is woken from a shared queue to own it); the code stays taken.
    PostPool,
    /// The queue of senders waiting for process `pid` to become available.
    Senders(u32),
}

impl QueueOwned {
    const fn code(self) -> u64 {
        match self {
            QueueOwned::None => 0,
            QueueOwned::PostPool => 1,
            QueueOwned::Senders(pid) => pid as u64 + 2,
        }
    }

    const fn from_code(code: u64) -> QueueOwned {
        match code {
            0 => QueueOwned::None,
            1 => QueueOwned::PostPool,
            c => QueueOwned::Senders((c - 2) as u32),
        }
    }
}

/// One line of `ps`: what the `process::INFO` order returns in `d0..d3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Its state.
    pub state: ProcessState,
    /// Its priority.
    pub priority: u8,
    /// Its priority ceiling: the highest priority or ceiling it may give any process.
    pub ceiling: u8,
    /// The CPU it runs on, if it is current on one.
    pub cpu: Option<u32>,
    /// The one CPU it may run on, or `None`: any ([`SET_AFFINITY`](crate::order::process::SET_AFFINITY)).
    pub affinity: Option<u32>,
    /// Its process number (its index in the kernel's process table).
    pub pid: u32,
    /// Invocations it has made.
    pub invocations: u64,
    /// The stall queue it owns.
    pub owns: QueueOwned,
}

impl ProcessInfo {
    /// Packs into four data words: state, priority | ceiling << 8 | owned queue code << 32 (0
    /// none, 1 the post pool's, pid + 2 that process's senders), cpu + 1 | (affinity + 1) << 32
    /// (0 = none, any), pid | invocations << 32.
    pub const fn pack(self) -> [u64; 4] {
        let cpu = match self.cpu {
            Some(c) => c as u64 + 1,
            None => 0,
        };
        let affinity = match self.affinity {
            Some(c) => c as u64 + 1,
            None => 0,
        };
        [
            self.state as u64,
            self.priority as u64 | ((self.ceiling as u64) << 8) | (self.owns.code() << 32),
            (cpu & 0xffff_ffff) | (affinity << 32),
            self.pid as u64 | (self.invocations << 32),
        ]
    }

    /// Unpacks four data words; `None` if the state is unknown.
    pub const fn unpack(words: [u64; 4]) -> Option<ProcessInfo> {
        let state = match ProcessState::from_raw(words[0]) {
            Some(s) => s,
            None => return None,
        };
        Some(ProcessInfo {
            state,
            priority: words[1] as u8,
            ceiling: (words[1] >> 8) as u8,
            owns: QueueOwned::from_code(words[1] >> 32),
            cpu: match words[2] as u32 {
                0 => None,
                c => Some(c - 1),
            },
            affinity: match (words[2] >> 32) as u32 {
                0 => None,
                c => Some(c - 1),
            },
            pid: words[3] as u32,
            invocations: words[3] >> 32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_round_trips() {
        let i = ProcessInfo {
            state: ProcessState::Stalled,
            priority: 3,
            ceiling: 9,
            cpu: Some(1),
            affinity: Some(2),
            pid: 7,
            invocations: 99,
            owns: QueueOwned::Senders(4),
        };
        assert_eq!(ProcessInfo::unpack(i.pack()), Some(i));
        for owns in [
            QueueOwned::None,
            QueueOwned::PostPool,
            QueueOwned::Senders(0),
            QueueOwned::Senders(u32::MAX - 2),
        ] {
            let j = ProcessInfo { owns, ..i };
            assert_eq!(ProcessInfo::unpack(j.pack()), Some(j));
        }
        let k = ProcessInfo {
            cpu: None,
            affinity: None,
            ..i
        };
        assert_eq!(ProcessInfo::unpack(k.pack()), Some(k));
        assert_eq!(ProcessState::from_raw(5), None);
    }
}
