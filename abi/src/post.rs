//! The POST payload: an order code and one word (seed 003).
//!
//! A POST invocation sends `MessageInfo { kind: Post, data_words: 1, caps: 0 }`. It is prompt:
//! if the recipient is not available the kernel queues a post activity carrying the sender's
//! priority and the sender goes on. An accepted POST is delivered exactly once, in order with
//! the other senders waiting on the recipient. Each process has its own bounded allotment of
//! post activities; only when all of its own are in flight does the sender stall, until one of
//! them is delivered. No sender can spend another's.
//!
//! The receiver sees `MessageInfo { kind: Post, order, data_words: 1 }` and the word in `d0`.

/// The payload of one POST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PostPayload {
    /// The order code delivered.
    pub order: u32,
    /// The one data word delivered.
    pub word: u64,
}

/// The order code of the POST the kernel sends to the endpoint bound to an IRQ line when the
/// line fires; the word is the line number.
pub const IRQ_FIRED: u32 = 0xffff_0001;
