//! The client program: CALL, SEND and POST to the servers it holds endpoints to, use its own
//! kernel objects, and send garbage registers that the kernel must refuse with a defined code.
//! A quarter of their CALLs, SENDs and POSTs ask never to stall (`MessageInfo::NONBLOCKING`):
//! the ledger follows the notification requests they register.

use tessera_abi::message::{CapWord, Invocation, MessageInfo};
use tessera_abi::{order, CapType, InvocationKind};

use crate::ledger::Ledger;
use crate::program::{inv, recv, slot, Pending, Program, SERVER_ORDER};
use crate::rng::Rng;

impl Program {
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
            65..=84 => return self.object_step(rng, ledger),
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
        self.nonblocking = rng.chance(1, 4);
        if self.nonblocking {
            ledger.nonblocking(me);
        }
        let info = MessageInfo::new(kind, SERVER_ORDER, ndata, ncaps);
        let info = if self.nonblocking {
            info.nonblocking()
        } else {
            info
        };
        let caps = CapWord {
            send: [slot::CAP_PAGE, 0, 0, 0],
            recv: [slot::SCRATCH, 0, 0, 0],
        };
        inv(slot::SERVERS + k as u8, info, [id, me as u64, 0, 0], caps)
    }

    /// A well-formed order on one of the client's kernel objects; page orders mostly name a
    /// page slot the client filled.
    fn object_step(&mut self, rng: &mut Rng, ledger: &mut Ledger) -> Invocation {
        self.pending = Some(Pending::Any);
        let filled: Vec<u8> = (0..slot::PAGE_COUNT)
            .filter(|i| self.pages & 1 << i != 0)
            .collect();
        let i = if !filled.is_empty() && rng.chance(3, 4) {
            filled[rng.index(filled.len())]
        } else {
            rng.below(u64::from(slot::PAGE_COUNT)) as u8
        };
        let page = slot::PAGES + i;
        let vpn = u64::from(i);
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
        match rng.below(15) {
            13 => call(
                page,
                order::page::READ_WORD,
                [rng.below(8), 0, 0, 0],
                1,
                0,
                0,
            ),
            14 => call(slot::SELF, order::process::YIELD, [0; 4], 0, 0, 0),
            11 => {
                let target = self.endpoints[0].unwrap_or(usize::MAX);
                let deadline = ledger.now + rng.below(3_000);
                let word = ledger.arm(target, deadline);
                call(
                    slot::ALARM,
                    order::alarm::ARM,
                    [deadline, 0, word, 0],
                    3,
                    slot::SERVERS,
                    0,
                )
            }
            12 => call(slot::ALARM, order::alarm::CANCEL, [0; 4], 0, 0, 0),
            0..=2 => {
                self.pages |= 1 << i;
                call(
                    slot::BANK,
                    order::bank::CREATE,
                    [CapType::Page as u64, 0, 0, 0],
                    1,
                    0,
                    page,
                )
            }
            3 => {
                self.pages &= !(1 << i);
                call(slot::BANK, order::bank::DESTROY, [0; 4], 0, page, 0)
            }
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
