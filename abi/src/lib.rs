//! The Tessera system-call ABI, shared by the kernel and user programs.
//!
//! Every system call is one *invocation* of one capability (see [`message`] for the register
//! convention). The invoked capability names a kernel object or a server process; the message
//! carries an order code, up to four data words and up to four capabilities. Kernel objects
//! answer order codes ([`order`]) as if they were servers. Every failure is an [`Error`] code in
//! `rax`; the kernel never panics on user input.
//!
//! # Guarantees
//! - Every numeric value in this crate is part of the ABI and stable within a release.
//! - Every decoder (`from_raw`, `unpack`) is total: an unknown value decodes to `None` or an
//!   error, never a panic.
//!
//! This crate has no dependencies and no `unsafe`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod boot;
pub mod cap;
pub mod clock;
pub mod error;
pub mod fault;
pub mod message;
pub mod order;
pub mod post;
pub mod process;
pub mod trace;

pub use cap::{CapType, Rights};
pub use error::Error;
pub use message::{CapWord, InvocationKind, MessageInfo};
pub use process::{ProcessInfo, ProcessState, QueueOwned};
