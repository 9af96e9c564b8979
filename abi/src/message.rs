//! The message layout and the register convention of the `syscall` instruction on x86_64.
//!
//! # Entry (what user code loads before `syscall`)
//! | register | meaning |
//! |---|---|
//! | `rdi` | index of the invoked capability in the caller's capability space |
//! | `rsi` | [`MessageInfo`]: invocation kind, order code, data-word and capability counts |
//! | `rdx`, `r10`, `r8`, `r9` | data words 0..=3 (only the first `data_words` are sent) |
//! | `rax` | [`CapWord`]: the indices of the capabilities sent, and the receive slots |
//!
//! `rcx` and `r11` are clobbered by `syscall` itself (return address and flags), so they carry
//! nothing. All other registers are preserved.
//!
//! # Exit (after the reply, or after a message is received)
//! | register | meaning |
//! |---|---|
//! | `rax` | `0`, or an [`Error`](crate::Error) code |
//! | `rdi` | the badge of the endpoint the message came through (`0` from the kernel or a reply) |
//! | `rsi` | [`MessageInfo`] of the received message (its kind, order code and counts) |
//! | `rdx`, `r10`, `r8`, `r9` | the received data words; words beyond `data_words` are zero |
//!
//! Received capabilities are written into the receive slots the receiver named in its
//! [`CapWord`] when it waited; a receive slot of `0` discards the capability (slot 0 is
//! permanently Null). A CALL's resume capability arrives in receive slot 3 and sets
//! [`MessageInfo::RESUME`]; a CALL may therefore send at most three capabilities.

/// Number of data words in a message.
pub const DATA_WORDS: usize = 4;
/// Number of capabilities in a message.
pub const MESSAGE_CAPS: usize = 4;
/// The receive slot (index into [`CapWord::recv`]) that receives a CALL's resume capability.
pub const RESUME_RECV_SLOT: usize = 3;

/// The four invocation kinds (DESIGN.md, "Objects and invocations").
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InvocationKind {
    /// Send, then wait for the reply on a fresh one-shot resume capability (closed wait).
    Call = 0,
    /// Reply through a resume capability (or through Null: no reply), then wait for the next
    /// message (open wait). The invoked capability must be a resume capability or Null.
    Return = 1,
    /// Send; the sender goes on once the message is taken. No resume capability is made.
    Send = 2,
    /// Prompt: an order code and one data word, no capabilities. If the recipient is not
    /// available the kernel queues it and the sender goes on; delivered exactly once, in order.
    Post = 3,
}

impl InvocationKind {
    /// Decodes the two kind bits.
    pub const fn from_raw(raw: u64) -> Option<InvocationKind> {
        match raw {
            0 => Some(InvocationKind::Call),
            1 => Some(InvocationKind::Return),
            2 => Some(InvocationKind::Send),
            3 => Some(InvocationKind::Post),
            _ => None,
        }
    }
}

/// The message-info word (`rsi`).
///
/// Bits 0..=1 kind, 4..=6 data-word count (0..=4), 8..=10 capability count (0..=4), bit 12
/// [`MessageInfo::RESUME`] (set by the kernel on receipt only), bit 13
/// [`MessageInfo::NONBLOCKING`], bits 32..=63 order code. All other bits are reserved and must
/// be zero.
///
/// # Non-blocking invocations (seed 000, section 8)
/// With [`MessageInfo::NONBLOCKING`] set, a CALL, SEND or POST through an Endpoint never
/// stalls the caller. Where it would have stalled (the target is not available to this caller
/// for CALL or SEND: busy, or its sender queue is owned by or holds another; for POST, every
/// activity of the caller's allotment is in flight) it fails with
/// [`Error::WouldBlock`](crate::Error::WouldBlock) and has no other effect: nothing is sent,
/// queued or taken; `d0` is 1 if this invocation registered a notification request, else 0. Before returning, the kernel registers a notification request on what it
/// waited for (the target process, or the caller's own allotment), to the endpoint and word
/// set with [`SET_NOTIFY`](crate::order::process::SET_NOTIFY). When the condition may have
/// cleared (the target waits again or its queue's owner passes it on; an activity of the
/// allotment is delivered; the target is destroyed) the kernel POSTs
/// [`NOTIFIED`](crate::post::NOTIFIED) with that word to that endpoint, once per request, and
/// drops the request; the caller then retries. A request registered while the condition
/// clears is notified all the same (the check and the registration are made under one lock).
/// One request per watched object: a second WOULDBLOCK on an object already watched by the
/// caller's unnotified request registers nothing new. Each process has a bounded allotment of
/// requests ([`NOTIFY_REQUESTS`](crate::post::NOTIFY_REQUESTS), covered by the bank unit the
/// process costs, like its post activities); a request stays in use until its notification
/// is delivered. With every one in use the invocation fails with
/// [`Error::OutOfQuota`](crate::Error::OutOfQuota) instead (nothing registered). With no
/// notification endpoint set, WOULDBLOCK registers nothing (a plain try). Requests of a
/// requester halted or destroyed since it registered them are dropped unposted; until then
/// each keeps its place in the allotment, except that a WOULDBLOCK on an object a request made
/// before a halt still watches takes that request over (`d0` = 1: it will be posted, with the
/// endpoint and word it was registered with). A CALL that
/// is delivered still waits for its reply (that is not a stall); the flag has no effect on
/// RETURN or on kernel objects (always available).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageInfo {
    /// The invocation kind.
    pub kind: InvocationKind,
    /// The order code: what the receiver is asked to do.
    pub order: u32,
    /// How many of the four data words are meaningful.
    pub data_words: u8,
    /// How many capabilities are sent.
    pub caps: u8,
    /// On receipt: a resume capability was delivered in receive slot 3.
    pub resume: bool,
    /// Never stall: fail with `WouldBlock` and register a notification instead (see above).
    pub nonblocking: bool,
}

impl MessageInfo {
    /// Bit set on receipt when the message carries a resume capability.
    pub const RESUME: u64 = 1 << 12;
    /// Bit asking that the invocation never stall (see above).
    pub const NONBLOCKING: u64 = 1 << 13;
    const RESERVED: u64 = 0xffff_ffff & !(0x3 | 0x70 | 0x700 | Self::RESUME | Self::NONBLOCKING);

    /// A message of `kind` with `order`, `data_words` words and `caps` capabilities.
    pub const fn new(kind: InvocationKind, order: u32, data_words: u8, caps: u8) -> MessageInfo {
        MessageInfo {
            kind,
            order,
            data_words,
            caps,
            resume: false,
            nonblocking: false,
        }
    }

    /// The same message, asking never to stall.
    pub const fn nonblocking(self) -> MessageInfo {
        MessageInfo {
            nonblocking: true,
            ..self
        }
    }

    /// Packs into the `rsi` word.
    pub const fn pack(self) -> u64 {
        (self.kind as u64)
            | ((self.data_words as u64 & 0x7) << 4)
            | ((self.caps as u64 & 0x7) << 8)
            | if self.resume { Self::RESUME } else { 0 }
            | if self.nonblocking {
                Self::NONBLOCKING
            } else {
                0
            }
            | ((self.order as u64) << 32)
    }

    /// Unpacks `rsi`; `None` if reserved bits are set or a count exceeds four.
    pub const fn unpack(raw: u64) -> Option<MessageInfo> {
        if raw & Self::RESERVED != 0 {
            return None;
        }
        let data_words = ((raw >> 4) & 0x7) as u8;
        let caps = ((raw >> 8) & 0x7) as u8;
        if data_words as usize > DATA_WORDS || caps as usize > MESSAGE_CAPS {
            return None;
        }
        let kind = match InvocationKind::from_raw(raw & 0x3) {
            Some(k) => k,
            None => return None,
        };
        Some(MessageInfo {
            kind,
            order: (raw >> 32) as u32,
            data_words,
            caps,
            resume: raw & Self::RESUME != 0,
            nonblocking: raw & Self::NONBLOCKING != 0,
        })
    }
}

/// The capability word (`rax` on entry): four capability indices to send (bytes 0..=3) and
/// four receive slots (bytes 4..=7) where incoming capabilities are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CapWord {
    /// Indices of the capabilities sent; only the first `MessageInfo::caps` are read.
    pub send: [u8; MESSAGE_CAPS],
    /// Slots that receive the incoming capabilities; `0` discards.
    pub recv: [u8; MESSAGE_CAPS],
}

impl CapWord {
    /// Packs into the `rax` word.
    pub const fn pack(self) -> u64 {
        let mut raw = 0u64;
        let mut i = 0;
        while i < MESSAGE_CAPS {
            raw |= (self.send[i] as u64) << (8 * i);
            raw |= (self.recv[i] as u64) << (8 * (i + MESSAGE_CAPS));
            i += 1;
        }
        raw
    }

    /// Unpacks the `rax` word (every value is valid; indices are range-checked on use).
    pub const fn unpack(raw: u64) -> CapWord {
        let mut w = CapWord {
            send: [0; MESSAGE_CAPS],
            recv: [0; MESSAGE_CAPS],
        };
        let mut i = 0;
        while i < MESSAGE_CAPS {
            w.send[i] = (raw >> (8 * i)) as u8;
            w.recv[i] = (raw >> (8 * (i + MESSAGE_CAPS))) as u8;
            i += 1;
        }
        w
    }
}

/// The invocation registers as the kernel reads them at entry (see the module table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// `rdi`: the invoked capability index.
    pub cap: u64,
    /// `rsi`: the packed [`MessageInfo`].
    pub info: u64,
    /// `rdx`, `r10`, `r8`, `r9`.
    pub data: [u64; DATA_WORDS],
    /// `rax`: the packed [`CapWord`].
    pub caps: u64,
}

/// The registers the kernel writes when an invocation completes or a message arrives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// `rax`: `0` or an [`Error`](crate::Error) code.
    pub error: u64,
    /// `rdi`: the badge of the endpoint the message came through.
    pub badge: u64,
    /// `rsi`: the packed [`MessageInfo`] of the received message.
    pub info: u64,
    /// `rdx`, `r10`, `r8`, `r9`.
    pub data: [u64; DATA_WORDS],
}

/// The seven registers of the convention above, by name: a save area keeps them however it
/// likes, and reads and writes invocations and replies through this one mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallRegs {
    /// `rax`
    pub rax: u64,
    /// `rdi`
    pub rdi: u64,
    /// `rsi`
    pub rsi: u64,
    /// `rdx`
    pub rdx: u64,
    /// `r10`
    pub r10: u64,
    /// `r8`
    pub r8: u64,
    /// `r9`
    pub r9: u64,
}

impl SyscallRegs {
    /// The invocation, as the kernel reads it at entry.
    #[inline]
    pub fn invocation(&self) -> Invocation {
        Invocation {
            cap: self.rdi,
            info: self.rsi,
            data: [self.rdx, self.r10, self.r8, self.r9],
            caps: self.rax,
        }
    }

    /// Loads an invocation, as user code does before `syscall`.
    #[inline]
    pub fn load(&mut self, inv: &Invocation) {
        self.rdi = inv.cap;
        self.rsi = inv.info;
        [self.rdx, self.r10, self.r8, self.r9] = inv.data;
        self.rax = inv.caps;
    }

    /// The reply, as user code sees it after `syscall`.
    #[inline]
    pub fn reply(&self) -> Reply {
        Reply {
            error: self.rax,
            badge: self.rdi,
            info: self.rsi,
            data: [self.rdx, self.r10, self.r8, self.r9],
        }
    }

    /// Writes a reply, as the kernel does when an invocation completes or a message arrives.
    #[inline]
    pub fn set_reply(&mut self, r: &Reply) {
        self.rax = r.error;
        self.rdi = r.badge;
        self.rsi = r.info;
        [self.rdx, self.r10, self.r8, self.r9] = r.data;
    }

    /// Where register `r` is kept here, if it is one of the seven.
    pub fn slot(&mut self, r: crate::fault::Reg) -> Option<&mut u64> {
        use crate::fault::Reg;
        Some(match r {
            Reg::Rax => &mut self.rax,
            Reg::Rdi => &mut self.rdi,
            Reg::Rsi => &mut self.rsi,
            Reg::Rdx => &mut self.rdx,
            Reg::R10 => &mut self.r10,
            Reg::R8 => &mut self.r8,
            Reg::R9 => &mut self.r9,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invocation_and_a_reply_travel_in_the_same_seven_registers() {
        let inv = Invocation {
            cap: 1,
            info: 2,
            data: [3, 4, 5, 6],
            caps: 7,
        };
        let mut regs = SyscallRegs::default();
        regs.load(&inv);
        assert_eq!(regs.invocation(), inv);
        let reply = Reply {
            error: 8,
            badge: 9,
            info: 10,
            data: [11, 12, 13, 14],
        };
        regs.set_reply(&reply);
        assert_eq!(regs.reply(), reply);
        assert_eq!(
            (regs.rax, regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9),
            (8, 9, 10, 11, 12, 13, 14)
        );
        // Each of the seven is its own slot; no other register is one.
        let mut seen = [false; 7];
        for r in crate::fault::Reg::ALL {
            if let Some(v) = regs.slot(r) {
                assert!(
                    !core::mem::replace(&mut seen[*v as usize - 8], true),
                    "{r:?}"
                );
            }
        }
        assert_eq!(seen, [true; 7]);
    }

    #[test]
    fn info_round_trips() {
        for kind in [
            InvocationKind::Call,
            InvocationKind::Return,
            InvocationKind::Send,
            InvocationKind::Post,
        ] {
            let mut i = MessageInfo::new(kind, 0xdead_beef, 4, 3);
            i.resume = true;
            assert_eq!(MessageInfo::unpack(i.pack()), Some(i));
            let n = i.nonblocking();
            assert_eq!(n.pack(), i.pack() | MessageInfo::NONBLOCKING);
            assert_eq!(MessageInfo::unpack(n.pack()), Some(n));
        }
    }

    #[test]
    fn malformed_info_is_refused() {
        assert_eq!(MessageInfo::unpack(1 << 20), None);
        assert_eq!(MessageInfo::unpack(5 << 4), None);
        assert_eq!(MessageInfo::unpack(5 << 8), None);
    }

    #[test]
    fn cap_word_round_trips() {
        let w = CapWord {
            send: [1, 2, 3, 255],
            recv: [9, 0, 7, 6],
        };
        assert_eq!(CapWord::unpack(w.pack()), w);
    }
}
