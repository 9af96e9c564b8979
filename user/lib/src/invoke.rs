//! The four invocations, as the `syscall` register convention of `tessera_abi::message` has
//! them. Every one returns the kernel's error code as `Err`.

use core::arch::asm;
use tessera_abi::message::{CapWord, InvocationKind, MessageInfo, DATA_WORDS};
use tessera_abi::Error;

/// A message as it arrives: sender's badge, its info word and data words.
#[derive(Clone, Copy, Debug, Default)]
pub struct Received {
    /// The badge of the endpoint it came through (0 for a reply or a kernel object's answer).
    pub badge: u64,
    /// The packed `MessageInfo`.
    pub info: u64,
    /// The data words.
    pub data: [u64; DATA_WORDS],
}

impl Received {
    /// The order code of the message.
    pub fn order(&self) -> u32 {
        (self.info >> 32) as u32
    }
}

/// One raw invocation.
pub fn raw(
    kind: InvocationKind,
    cap: u8,
    order: u32,
    data: &[u64],
    send: &[u8],
    recv: [u8; 4],
) -> Result<Received, Error> {
    let (info, d, caps) = encode(kind, order, data, send, recv);
    registers(cap as u64, info.pack(), d, caps)
}

/// The message info, data words and capability word of an invocation (at most
/// `DATA_WORDS` words and four capabilities are sent; the rest is cut off).
pub(crate) fn encode(
    kind: InvocationKind,
    order: u32,
    data: &[u64],
    send: &[u8],
    recv: [u8; 4],
) -> (MessageInfo, [u64; DATA_WORDS], u64) {
    let mut d = [0u64; DATA_WORDS];
    let n = data.len().min(DATA_WORDS);
    d[..n].copy_from_slice(&data[..n]);
    let mut caps = CapWord { send: [0; 4], recv };
    let c = send.len().min(4);
    caps.send[..c].copy_from_slice(&send[..c]);
    (
        MessageInfo::new(kind, order, n as u8, c as u8),
        d,
        caps.pack(),
    )
}

/// One invocation from raw register values, unchecked here (tests of the kernel's refusals
/// use it to send what [`raw`] cannot encode).
pub fn registers(cap: u64, info: u64, d: [u64; DATA_WORDS], caps: u64) -> Result<Received, Error> {
    let (err, r) = syscall(cap, info, d, caps);
    // `result`, not `from_raw`: a non-zero code this library does not know (a newer kernel) is
    // an error, never a success.
    Error::result(err).map(|()| r)
}

/// One invocation from raw register values: the raw error code (`rax`) and the reply
/// registers, which some errors fill too (`WouldBlock`'s `d0`).
pub fn syscall(cap: u64, info: u64, d: [u64; DATA_WORDS], caps: u64) -> (u64, Received) {
    let (err, badge, rinfo, d0, d1, d2, d3): (u64, u64, u64, u64, u64, u64, u64);
    // SAFETY: `syscall` enters the kernel, which preserves every register but rcx and r11
    // and the reply registers named here.
    unsafe {
        asm!(
            "syscall",
            inout("rax") caps => err,
            inout("rdi") cap => badge,
            inout("rsi") info => rinfo,
            inout("rdx") d[0] => d0,
            inout("r10") d[1] => d1,
            inout("r8") d[2] => d2,
            inout("r9") d[3] => d3,
            out("rcx") _,
            out("r11") _,
            options(nostack)
        );
    }
    (
        err,
        Received {
            badge,
            info: rinfo,
            data: [d0, d1, d2, d3],
        },
    )
}

/// CALL: send, wait for the reply. The resume capability slot is not needed for kernel objects.
pub fn call(cap: u8, order: u32, data: &[u64], send: &[u8]) -> Result<Received, Error> {
    raw(InvocationKind::Call, cap, order, data, send, [0; 4])
}

/// CALL, receiving a capability into slot `into`.
pub fn call_for_cap(
    cap: u8,
    order: u32,
    data: &[u64],
    send: &[u8],
    into: u8,
) -> Result<Received, Error> {
    raw(
        InvocationKind::Call,
        cap,
        order,
        data,
        send,
        [into, 0, 0, 0],
    )
}

/// SEND: the sender goes on once the message is taken.
pub fn send(cap: u8, order: u32, data: &[u64], send: &[u8]) -> Result<Received, Error> {
    raw(InvocationKind::Send, cap, order, data, send, [0; 4])
}

/// POST: an order code and one word; queued by the kernel if the recipient is busy.
pub fn post(cap: u8, order: u32, word: u64) -> Result<Received, Error> {
    raw(InvocationKind::Post, cap, order, &[word], &[], [0; 4])
}

/// RETURN through `resume` (slot 0: no reply), then wait for the next message, its resume
/// capability into `resume_slot`.
pub fn reply_and_wait(
    resume: u8,
    order: u32,
    data: &[u64],
    resume_slot: u8,
) -> Result<Received, Error> {
    raw(
        InvocationKind::Return,
        resume,
        order,
        data,
        &[],
        [0, 0, 0, resume_slot],
    )
}

/// Waits for the first message (RETURN through Null).
pub fn wait() -> Result<Received, Error> {
    raw(InvocationKind::Return, 0, 0, &[], &[], [0; 4])
}
