//! The echo server's orders, shared by echo and its clients (tests, benchmarks, shell).
//!
//! Guarantees (kept by `user/echo`): every CALL is answered; POSTs and SENDs are counted, and
//! a POST with order [`COUNT`] is checked for order within its stream: its word is
//! `stream << 32 | seq`, and a `seq` that is not one more than the stream's previous one
//! (from 0 after [`RESET`]), or a stream not below [`STREAMS`], is counted as out of order.

/// CALL: replies with each data word plus one.
pub const PLUS_ONE: u32 = 1;
/// POST or SEND: counted; a POST's word (`stream << 32 | seq`) is checked for order.
pub const COUNT: u32 = 2;
/// Streams of [`COUNT`] POSTs whose order echo follows apart.
pub const STREAMS: u64 = 8;
/// CALL: replies `[posts, sends, out_of_order, calls]` since the last [`RESET`].
pub const STATS: u32 = 3;
/// CALL: zeroes the counters and every stream's expected POST seq; ends any delay.
pub const RESET: u32 = 4;
/// SEND with `c0` = an endpoint: echo CALLs it with order [`HELD`] and serves nobody until
/// that CALL is answered, so its callers queue.
pub const HOLD: u32 = 5;
/// The order of echo's CALL during a [`HOLD`].
pub const HELD: u32 = 0x40;
/// CALL: replies `[sequence number, d0]`; the sequence counts SEQ calls since [`RESET`].
pub const SEQ: u32 = 6;
/// CALL: `d0` = TSC ticks echo spins before each later message (a slow receiver).
pub const SET_DELAY: u32 = 7;
/// SEND with `c0` = an endpoint: where [`PING`] posts are answered.
pub const SET_PEER: u32 = 8;
/// POST: echo POSTs [`PONG`] with the same word to its peer.
pub const PING: u32 = 9;
/// The order of echo's answer to [`PING`].
pub const PONG: u32 = 10;
/// CALL: `d0` = stream; replies `[the seq echo expects next on it]`: after POSTs in order
/// from 0, how many there were.
pub const NEXT: u32 = 11;
