//! From the PVH entry to `kernel_main`.
#[cfg(not(test))]
mod entry;
pub mod start_info;
