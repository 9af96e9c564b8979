//! From the PVH entry to `kernel_main`. The boot information's parser is the host-tested
//! `tessera-x86_64-mem::start_info`.
mod pvh_start;

pub use tessera_x86_64_mem::start_info;
