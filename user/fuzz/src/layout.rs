//! Capability slots of the fuzzer's processes and the numbers that size a campaign.
//!
//! Invariants: a worker's random invocations never name [`SELF`] (its own process) or
//! [`TRACKED_BANK`], never receive into slots below [`SCRATCH`], and never transfer a slot of
//! [`TRACKED`]: so nothing random can halt a worker, and every object made from the tracked
//! bank has its one capability in a tracked slot, for the worker to destroy at the end.

/// Worker slot: the bank random invocations create from (and may exhaust or leak from).
pub const RANDOM_BANK: u8 = 1;
/// Worker slot: its own process, for halting itself when it is done.
pub const SELF: u8 = 2;
/// Worker slot: an endpoint to the receiver, badged with the worker's index.
pub const RECEIVER: u8 = 5;
/// Worker slots: endpoints to the servers, from here.
pub const SERVERS: u8 = 6;
/// Most servers.
pub const MAX_SERVERS: u8 = 4;
/// Worker slot: an endpoint to itself, for the POST that ends its own open wait.
pub const SELF_ENDPOINT: u8 = 12;
/// Worker slot: the bank the structured steps create from; its accounting is checked.
pub const TRACKED_BANK: u8 = 15;
/// Worker slots holding the objects its structured steps made, as a stack.
pub const TRACKED: core::ops::Range<u8> = 16..32;
/// Slots random invocations receive into.
pub const SCRATCH: u8 = 32;
/// Server slots its callers' resume capabilities arrive in, alternately (the other is stale).
pub const RESUME_A: u8 = 30;
pub const RESUME_B: u8 = 31;
/// Victim slot: an endpoint to a server, which the caller and poster victims invoke.
pub const VICTIM_TARGET: u8 = 5;

/// The order code of a sequence-numbered POST to the receiver; random invocations never use it.
pub const SEQ: u32 = 0x5e9_0001;
/// The order code of a worker's POST to itself that ends its open wait.
pub const NUDGE: u32 = 0x5e9_0002;

/// Priority of every fuzzer process but the receiver, which is one above so it drains POSTs,
/// and the victims, which are below (a spinning victim must not starve the workers).
pub const PRIORITY: u64 = 8;

/// Where a victim's one code page is mapped.
pub const VICTIM_VPN: u64 = 0x1000;
