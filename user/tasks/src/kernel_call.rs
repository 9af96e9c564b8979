//! SVC notification on Tessera's kernel (seed 000 section 8): a chore's invocation made with
//! the NONBLOCKING flag, so that a busy target suspends the chore, not its VP. Each VP's
//! process has its notification endpoint set (by `Task::new`) to its own endpoint with the
//! word `vp_notification(vp)`; the kernel's `NOTIFIED` POST reaches the VP when it idles, and
//! the runtime retries every call last tried on that VP.
//!
//! Guarantees: a try that would block has no effect (the kernel's guarantee), and the chore
//! retries only after a notification of its VP; `OutOfQuota` (every notification request of
//! the VP in use) is a would-block too: each of those requests notifies the VP when its
//! condition clears, and that retries this call as well.

use tessera_runtime::{Attempt, NonBlocking, Notification};
use tessera_user::abi::message::InvocationKind;
use tessera_user::abi::Error;
use tessera_user::invoke::Received;
use tessera_user::nonblocking::{self, try_invoke};

/// One invocation of a chore through a capability of its VP's capability space.
#[derive(Clone, Copy, Debug)]
pub struct KernelCall<'a> {
    pub kind: InvocationKind,
    pub cap: u8,
    pub order: u32,
    pub data: &'a [u64],
    pub send: &'a [u8],
    /// Tries made so far (the first plus one per retry).
    pub tries: u32,
}

impl<'a> KernelCall<'a> {
    /// A CALL of `order` with `data` through the endpoint in slot `cap`.
    pub fn call(cap: u8, order: u32, data: &'a [u64]) -> KernelCall<'a> {
        KernelCall {
            kind: InvocationKind::Call,
            cap,
            order,
            data,
            send: &[],
            tries: 0,
        }
    }
}

impl NonBlocking for KernelCall<'_> {
    type Output = Result<Received, Error>;

    fn attempt(&mut self, _note: Notification) -> Attempt<Self::Output> {
        self.tries += 1;
        let tried = try_invoke(
            self.kind, self.cap, self.order, self.data, self.send, [0; 4],
        );
        match tried {
            Ok(nonblocking::Attempt::Done(r)) => Attempt::Done(Ok(r)),
            Ok(nonblocking::Attempt::WouldBlock { .. }) | Err(Error::OutOfQuota) => {
                Attempt::WouldBlock
            }
            Err(e) => Attempt::Done(Err(e)),
        }
    }
}
