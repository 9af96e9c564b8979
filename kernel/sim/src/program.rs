//! What every simulated program shares: its capability-space layout, its pending invocation,
//! and the check of what came back, against the ledger. Each step a program issues one
//! invocation (`client.rs`, `server.rs`) and, at its next step, checks the result here.

use tessera_abi::message::{CapWord, Invocation, MessageInfo, Reply};
use tessera_abi::post::{ALARM_FIRED, IRQ_FIRED, NOTIFIED};
use tessera_abi::process::ProcessInfo;
use tessera_abi::{Error, InvocationKind};
use tessera_core::ObjId;

use crate::ledger::Ledger;

/// Capability-space layout every program relies on.
pub mod slot {
    /// The program's own bank (a child bank with a small quota, for clients).
    pub const BANK: u8 = 1;
    /// The program's own process capability (read-only for clients).
    pub const SELF: u8 = 2;
    /// Where a CALL's resume capability arrives.
    pub const RESUME: u8 = 3;
    /// The program's address space.
    pub const SPACE: u8 = 5;
    /// A client's alarm, which it arms to POST to its first server.
    pub const ALARM: u8 = 7;
    /// A capability page.
    pub const CAP_PAGE: u8 = 6;
    /// Endpoints to the servers, one slot each from here.
    pub const SERVERS: u8 = 10;
    /// Scratch slots for received capabilities.
    pub const SCRATCH: u8 = 30;
    /// Pages a client creates, one slot each from here.
    pub const PAGES: u8 = 40;
    /// How many page slots.
    pub const PAGE_COUNT: u8 = 6;
    /// A keeper's process capability to the program it keeps.
    pub const KEPT: u8 = 20;
    /// The driver's IRQ line capabilities, one slot per line from here.
    pub const IRQS: u8 = 50;
}

/// The badge on the driver endpoint bound to the IRQ lines.
pub const DRIVER_BADGE: u64 = 0xd00d;
/// The badge on a fault endpoint (a keeper's endpoint named by the program it keeps).
pub const KEEPER_BADGE: u64 = 0xfa;
/// The badge on a client's notification endpoint (`SET_NOTIFY`, to its first server).
pub const NOTIFY_BADGE: u64 = 0x40;
/// The order code clients use for server messages.
pub(crate) const SERVER_ORDER: u32 = 100;

/// What a program is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
    /// The fault keeper of one program (`keeper.rs`).
    Keeper,
}

/// The invocation a program issued and has not yet seen the result of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    Call {
        id: u64,
    },
    Send {
        id: u64,
    },
    Post {
        id: u64,
    },
    /// RETURN: the next thing seen is a received message.
    Wait,
    /// SEND through a resume capability: `first` may succeed, a second must fail.
    ReplySend {
        first: bool,
    },
    /// A kernel-object order or garbage: any defined result.
    Any,
    /// A keeper's RETURN: the next thing seen is a fault message.
    KeeperWait,
    /// A keeper's READ_REGS of registers `first..` of fault `fault`.
    ReadRegs {
        first: u64,
        fault: u64,
    },
    /// A keeper's WRITE_REGS of `value` into register `reg`, for fault `fault`.
    WriteRegs {
        reg: u64,
        value: u64,
        fault: u64,
    },
    /// A keeper's HALT of the program it keeps.
    KeeperHalt,
    /// The driver's ACK of an IRQ line whose `IRQ_FIRED` it received: must succeed.
    Ack {
        line: u32,
    },
}

/// A server's memory of its last CALL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeState {
    None,
    Fresh { id: u64 },
    Sent,
}

/// One simulated process.
#[derive(Debug)]
pub struct Program {
    pub id: ObjId,
    /// Its address space.
    pub space: ObjId,
    pub role: Role,
    pub alive: bool,
    /// The simulator halted it and has not resumed it since.
    pub halted: bool,
    /// Its keeper's HALT of it completed since the last quiescent point (the record learns
    /// of it at the next check, as of a halt it saw in flight: `Sim::halt_unseen`).
    pub halted_by_keeper: bool,
    /// Where it was at the last quiescent point (kernel INFO): where faults aim.
    pub seen: Option<ProcessInfo>,
    pub draining: bool,
    pub pending: Option<Pending>,
    pub resume: ResumeState,
    /// Server index, for servers.
    pub server: Option<usize>,
    /// For each server slot, the program its endpoint reaches (fixed at spawn).
    pub endpoints: Vec<Option<usize>>,
    /// Page slots (bit `i`: `slot::PAGES + i`) the program last asked to fill and has not
    /// destroyed since, so its memory orders mostly name pages that exist.
    pub pages: u8,
    /// Its keeper (a program index), if it has one.
    pub keeper: Option<usize>,
    /// For a keeper: the program it keeps.
    pub keeps: Option<usize>,
    /// Its fault not yet over (`exceptions.rs`).
    pub fault: Option<crate::exceptions::Outstanding>,
    /// WRITE_REGS its keepers made for an earlier fault, which may have landed during this one
    /// (a halted keeper re-runs its call when resumed).
    pub stale_writes: Vec<(tessera_abi::fault::Reg, u64)>,
    /// For a keeper: the fault (its number) whose message it holds, and the step it is at.
    pub handling: Option<(u64, u8)>,
    /// For the driver: the IRQ lines (one bit each) whose `IRQ_FIRED` it received and has not
    /// ACKed yet; the kernel must not post such a line again before the ACK.
    pub acks: u64,
    /// Its pending invocation asked never to stall.
    pub nonblocking: bool,
    /// Never halted (by anyone) and never faulted: its notification requests are all owed.
    pub whole: bool,
}

pub(crate) fn inv(cap: u8, info: MessageInfo, data: [u64; 4], caps: CapWord) -> Invocation {
    Invocation {
        cap: u64::from(cap),
        info: info.pack(),
        data,
        caps: caps.pack(),
    }
}

pub(crate) fn recv(slots: [u8; 4]) -> CapWord {
    CapWord {
        send: [0; 4],
        recv: slots,
    }
}

impl Program {
    /// Checks the result of the pending invocation, seen in `r` (`me` is the program's index).
    pub fn consume(&mut self, me: usize, r: &Reply, ledger: &mut Ledger) -> Result<(), String> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let err = Error::from_raw(r.error);
        if r.error != 0 && err.is_none() {
            return Err(format!(
                "process {me}: undefined error code {} after {p:?}: {r:?}",
                r.error
            ));
        }
        let nonblocking = core::mem::take(&mut self.nonblocking);
        let would_block = err == Some(Error::WouldBlock);
        if nonblocking {
            ledger.nonblocking_seen(me, would_block.then_some(r.data[0]))?;
        }
        if would_block {
            if !nonblocking
                || !matches!(
                    p,
                    Pending::Call { .. } | Pending::Send { .. } | Pending::Post { .. }
                )
            {
                return Err(format!("process {me}: {p:?} got WouldBlock without asking"));
            }
            return Ok(());
        }
        match p {
            Pending::Call { id } => {
                if r.error != 0 {
                    return Ok(());
                }
                let info = MessageInfo::unpack(r.info).ok_or("reply with a malformed info word")?;
                if !matches!(info.kind, InvocationKind::Return | InvocationKind::Send)
                    || r.data[0] != id
                {
                    return Err(format!(
                        "process {me}: call {id} got a reply {info:?} {:?} that is not its own",
                        r.data
                    ));
                }
                if !ledger.was_received(id) {
                    return Err(format!(
                        "process {me}: call {id} was answered before it was received"
                    ));
                }
                Ok(())
            }
            Pending::Send { id } | Pending::Post { id } => {
                if r.error == 0 {
                    ledger.accepted(id);
                }
                Ok(())
            }
            Pending::ReplySend { first } => match (first, err) {
                (true, None | Some(Error::NullCapability)) => Ok(()),
                (false, Some(Error::NullCapability)) => Ok(()),
                _ => Err(format!(
                    "process {me}: a resume capability was used twice ({err:?})"
                )),
            },
            // A keeper's are judged in `keeper.rs`.
            Pending::Any
            | Pending::KeeperWait
            | Pending::ReadRegs { .. }
            | Pending::WriteRegs { .. }
            | Pending::KeeperHalt => Ok(()),
            Pending::Wait => self.received(me, r, ledger),
            Pending::Ack { line } => match err {
                None => Ok(()),
                Some(e) => Err(format!(
                    "process {me}: ACK of IRQ line {line} failed: {e:?}"
                )),
            },
        }
    }

    fn received(&mut self, me: usize, r: &Reply, ledger: &mut Ledger) -> Result<(), String> {
        if r.error != 0 {
            return Err(format!(
                "process {me}: RETURN failed with {:?}",
                Error::from_raw(r.error)
            ));
        }
        let info = MessageInfo::unpack(r.info).ok_or("received a malformed info word")?;
        if info.kind == InvocationKind::Post && info.order == IRQ_FIRED {
            if r.badge != DRIVER_BADGE {
                return Err(format!(
                    "process {me}: IRQ post through badge {:#x}",
                    r.badge
                ));
            }
            let bit = 1u64.checked_shl(r.data[0] as u32).unwrap_or(0);
            if bit == 0 || self.acks & bit != 0 {
                return Err(format!(
                    "process {me}: IRQ line {} posted again before its ACK",
                    r.data[0]
                ));
            }
            self.acks |= bit;
            ledger.irqs += 1;
            return Ok(());
        }
        if info.kind == InvocationKind::Post && info.order == ALARM_FIRED {
            return ledger.alarm_received(r.data[0], me);
        }
        if info.kind == InvocationKind::Post && info.order == NOTIFIED {
            if r.badge != NOTIFY_BADGE {
                return Err(format!(
                    "process {me}: a notification through badge {:#x}",
                    r.badge
                ));
            }
            return ledger.notified(r.data[0], me);
        }
        let sender = (r.badge as usize)
            .checked_sub(1)
            .ok_or("a message without a sender badge")?;
        ledger.receive(r.data[0], info.kind, sender, me)?;
        if (info.kind == InvocationKind::Call) != info.resume {
            return Err(format!(
                "process {me}: a {:?} arrived with resume = {}",
                info.kind, info.resume
            ));
        }
        if info.resume {
            self.resume = ResumeState::Fresh { id: r.data[0] };
        }
        Ok(())
    }
}
