//! The user runtime (`tessera-runtime`) on Tessera's kernel: a task's virtual processors as
//! processes pinned to CPUs in one address space (`task.rs`), stack chunks with guard pages
//! (`stacks.rs`), the home process as fault keeper growing stacks or ending chores
//! (`keeper.rs`), VPs that idle in the kernel until a POST or their alarm (`idle.rs`), and
//! chores' non-blocking kernel calls that suspend the chore, not the VP (`kernel_call.rs`);
//! and the system-wide channel name server (`name_server.rs`).
//! See `docs/RUNTIME.md`.
#![no_std]

extern crate alloc;

pub mod demo;
mod idle;
mod keeper;
mod kernel_call;
mod memory;
pub mod name_server;
mod refill;
pub mod slots;
mod stacks;
mod task;

pub use idle::{NOTIFY, WAKE};
pub use keeper::KeeperCounts;
pub use kernel_call::KernelCall;
pub use stacks::STACKS_VA;
pub use task::{Task, TaskConfig, TaskReport};
