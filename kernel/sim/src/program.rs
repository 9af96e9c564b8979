//! The programs the simulated processes run: clients that CALL, SEND and POST to servers,
//! use kernel objects and send garbage; servers that receive and reply (sometimes twice, to
//! check resume capabilities are one-shot). Each step issues one invocation and, at the next
//! step, checks what came back against the ledger.

use tessera_abi::message::{CapWord, Invocation, MessageInfo, Reply};
use tessera_abi::post::IRQ_FIRED;
use tessera_abi::{order, CapType, Error, InvocationKind};
use tessera_core::ObjId;

use crate::ledger::Ledger;
use crate::rng::Rng;

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
}

/// The badge on the driver endpoint bound to the IRQ lines.
pub const DRIVER_BADGE: u64 = 0xd00d;
/// The order code clients use for server messages.
const SERVER_ORDER: u32 = 100;

/// What a program is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
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
    pub role: Role,
    pub alive: bool,
    pub draining: bool,
    pub pending: Option<Pending>,
    pub resume: ResumeState,
    /// Server index, for servers.
    pub server: Option<usize>,
    /// For each server slot, the program its endpoint reaches (fixed at spawn).
    pub endpoints: Vec<Option<usize>>,
}

fn inv(cap: u8, info: MessageInfo, data: [u64; 4], caps: CapWord) -> Invocation {
    Invocation {
        cap: u64::from(cap),
        info: info.pack(),
        data,
        caps: caps.pack(),
    }
}

fn recv(slots: [u8; 4]) -> CapWord {
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
                "process {me}: undefined error code {} after {p:?}",
                r.error
            ));
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
            Pending::Any => Ok(()),
            Pending::Wait => self.received(me, r, ledger),
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
            ledger.irqs += 1;
            return Ok(());
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

    /// A server's next invocation.
    pub fn server_step(&mut self, rng: &mut Rng) -> Invocation {
        let wait = recv([slot::SCRATCH, slot::SCRATCH + 1, 0, slot::RESUME]);
        match self.resume {
            ResumeState::Fresh { id } if rng.chance(1, 6) => {
                self.resume = ResumeState::Sent;
                self.pending = Some(Pending::ReplySend { first: true });
                inv(
                    slot::RESUME,
                    MessageInfo::new(InvocationKind::Send, 0, 1, 0),
                    [id, 0, 0, 0],
                    wait,
                )
            }
            ResumeState::Fresh { id } => {
                self.resume = ResumeState::None;
                self.pending = Some(Pending::Wait);
                inv(
                    slot::RESUME,
                    MessageInfo::new(InvocationKind::Return, 0, 1, 0),
                    [id, 0, 0, 0],
                    wait,
                )
            }
            ResumeState::Sent => {
                self.resume = ResumeState::None;
                self.pending = Some(Pending::ReplySend { first: false });
                inv(
                    slot::RESUME,
                    MessageInfo::new(InvocationKind::Send, 0, 1, 0),
                    [0; 4],
                    wait,
                )
            }
            ResumeState::None => {
                self.pending = Some(Pending::Wait);
                inv(
                    0,
                    MessageInfo::new(InvocationKind::Return, 0, 0, 0),
                    [0; 4],
                    wait,
                )
            }
        }
    }

    /// A client's next invocation (`me` is its index).
    pub fn client_step(&mut self, me: usize, rng: &mut Rng, ledger: &mut Ledger) -> Invocation {
        if self.draining {
            self.pending = Some(Pending::Wait);
            return inv(
                0,
                MessageInfo::new(InvocationKind::Return, 0, 0, 0),
                [0; 4],
                recv([0; 4]),
            );
        }
        let k = rng.index(self.endpoints.len());
        let roll = rng.below(100);
        let kind = match roll {
            0..=29 => InvocationKind::Call,
            30..=44 => InvocationKind::Send,
            45..=64 => InvocationKind::Post,
            65..=84 => return self.object_step(rng),
            _ => return self.garbage(rng),
        };
        let target = self.endpoints[k].unwrap_or(usize::MAX);
        let id = ledger.send(kind, me, target);
        self.pending = Some(match kind {
            InvocationKind::Call => Pending::Call { id },
            InvocationKind::Send => Pending::Send { id },
            _ => Pending::Post { id },
        });
        let (ndata, ncaps) = match kind {
            InvocationKind::Post => (1, 0),
            _ => (2, rng.below(2) as u8),
        };
        let caps = CapWord {
            send: [slot::CAP_PAGE, 0, 0, 0],
            recv: [slot::SCRATCH, 0, 0, 0],
        };
        inv(
            slot::SERVERS + k as u8,
            MessageInfo::new(kind, SERVER_ORDER, ndata, ncaps),
            [id, me as u64, 0, 0],
            caps,
        )
    }

    /// A well-formed order on one of the client's kernel objects.
    fn object_step(&mut self, rng: &mut Rng) -> Invocation {
        self.pending = Some(Pending::Any);
        let page = slot::PAGES + rng.below(u64::from(slot::PAGE_COUNT)) as u8;
        let vpn = u64::from(page - slot::PAGES);
        let call = |cap: u8, order: u32, data: [u64; 4], nd: u8, send: u8, to: u8| {
            let nc = u8::from(send != 0);
            inv(
                cap,
                MessageInfo::new(InvocationKind::Call, order, nd, nc),
                data,
                CapWord {
                    send: [send, 0, 0, 0],
                    recv: [to, 0, 0, 0],
                },
            )
        };
        match rng.below(11) {
            0..=2 => call(
                slot::BANK,
                order::bank::CREATE,
                [CapType::Page as u64, 0, 0, 0],
                1,
                0,
                page,
            ),
            3 => call(slot::BANK, order::bank::DESTROY, [0; 4], 0, page, 0),
            4 => call(slot::BANK, order::bank::AVAILABLE, [0; 4], 0, 0, 0),
            5 | 6 => call(slot::SPACE, order::space::MAP, [vpn, 3, 0, 0], 2, page, 0),
            7 => call(slot::SPACE, order::space::UNMAP, [vpn, 0, 0, 0], 1, 0, 0),
            8 => call(
                page,
                order::page::WRITE_WORD,
                [rng.below(8), rng.next_u64(), 0, 0],
                2,
                0,
                0,
            ),
            9 => call(slot::SELF, order::process::INFO, [0; 4], 0, 0, 0),
            _ => call(
                slot::CAP_PAGE,
                order::cap_page::STORE,
                [rng.below(64), 0, 0, 0],
                1,
                page,
                0,
            ),
        }
    }

    /// Random registers aimed at the client's kernel objects or at nothing: the kernel must
    /// answer each with a defined code and never panic. Receive slots stay in the scratch
    /// range so the program's layout survives.
    fn garbage(&mut self, rng: &mut Rng) -> Invocation {
        self.pending = Some(Pending::Any);
        const TARGETS: [u8; 11] = [
            0,
            slot::BANK,
            slot::SELF,
            slot::SPACE,
            slot::CAP_PAGE,
            40,
            41,
            63,
            64,
            200,
            255,
        ];
        let cap = TARGETS[rng.index(TARGETS.len())];
        let kinds = [
            InvocationKind::Call,
            InvocationKind::Send,
            InvocationKind::Post,
        ];
        let kind = kinds[rng.index(kinds.len())];
        let info = if rng.chance(1, 5) {
            rng.next_u64() & !3 | 2
        } else {
            MessageInfo::new(
                kind,
                rng.below(12) as u32,
                rng.below(5) as u8,
                rng.below(5) as u8,
            )
            .pack()
        };
        let word = |rng: &mut Rng| {
            if rng.chance(1, 2) {
                rng.below(70)
            } else {
                rng.next_u64()
            }
        };
        let data = [word(rng), word(rng), word(rng), word(rng)];
        let pick = |rng: &mut Rng| TARGETS[rng.index(TARGETS.len())];
        let to = |rng: &mut Rng| {
            if rng.chance(1, 8) {
                99
            } else {
                slot::SCRATCH + rng.below(10) as u8
            }
        };
        let caps = CapWord {
            send: [pick(rng), pick(rng), pick(rng), pick(rng)],
            recv: [to(rng), 0, to(rng), 0],
        };
        Invocation {
            cap: u64::from(cap),
            info,
            data,
            caps: caps.pack(),
        }
    }
}
