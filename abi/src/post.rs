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

/// The order code of the POST the kernel sends when an alarm's deadline has passed; the word
/// is the one given to [`ARM`](crate::order::alarm::ARM). It is sent once per expiry (once per
/// period for a periodic alarm), never before the deadline: at the first kernel exit or idle
/// wake-up of the CPU the alarm waits on after its deadline. Each alarm has one post activity:
/// an expiry while the alarm's previous message still waits in the recipient's queue merges
/// into it (the receiver sees one message, carrying the latest expiry's word, as for an IRQ
/// line that fires twice).
pub const ALARM_FIRED: u32 = 0xffff_0002;

/// The order code of the POST the kernel sends for a notification request (a non-blocking
/// invocation that got [`WouldBlock`](crate::Error::WouldBlock): see
/// [`MessageInfo`](crate::message::MessageInfo)); the word is the one given to
/// [`SET_NOTIFY`](crate::order::process::SET_NOTIFY), the badge the notification endpoint's.
/// It means "the condition may have cleared: retry"; it is sent once per request, and the
/// retry may get `WouldBlock` again (another caller came first).
pub const NOTIFIED: u32 = 0xffff_0003;

/// Notification requests each process can have registered and not yet delivered at once.
pub const NOTIFY_REQUESTS: u32 = 4;
