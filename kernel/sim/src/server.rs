//! The server program: wait, receive, reply; sometimes reply with SEND through the resume
//! capability and then try it again, which must fail (resume capabilities are one-shot).

use tessera_abi::message::{Invocation, MessageInfo};
use tessera_abi::InvocationKind;

use crate::program::{inv, recv, slot, Pending, Program, ResumeState};
use crate::rng::Rng;

impl Program {
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
}
