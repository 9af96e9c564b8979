//! The server program: wait, receive, reply; sometimes reply with SEND through the resume
//! capability and then try it again, which must fail (resume capabilities are one-shot). The
//! driver (server 0) first ACKs each IRQ line whose `IRQ_FIRED` it received.

use tessera_abi::message::{Invocation, MessageInfo};
use tessera_abi::{order, InvocationKind};

use crate::program::{inv, recv, slot, Pending, Program, ResumeState};
use crate::rng::Rng;

impl Program {
    /// A server's next invocation.
    pub fn server_step(&mut self, rng: &mut Rng) -> Invocation {
        let wait = recv([slot::SCRATCH, slot::SCRATCH + 1, 0, slot::RESUME]);
        if self.acks != 0 {
            // The driver has drained its device: the line may interrupt again.
            let line = self.acks.trailing_zeros();
            self.acks &= self.acks - 1;
            self.pending = Some(Pending::Ack { line });
            return inv(
                slot::IRQS + line as u8,
                MessageInfo::new(InvocationKind::Call, order::irq::ACK, 0, 0),
                [0; 4],
                recv([0; 4]),
            );
        }
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
}
