//! The pure parts of the x86_64 kernel's memory management: what the boot loader says about
//! memory (`start_info`), which frames are free (`frame_alloc`), how page tables are built over
//! any source of frames (`page_table`), and where things live in the address space (`layout`).
//!
//! None of it touches hardware, so it builds and is tested on the host (`cargo test`, part of
//! `cargo xtask test`'s host stage); the kernel crate (`tessera-kernel`) supplies the frames and
//! the physical-memory reader.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod frame_alloc;
pub mod layout;
pub mod page_table;
pub mod start_info;
