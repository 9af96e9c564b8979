//! Physical and virtual memory. The pure parts (layout, frame allocator, page-table builder)
//! are the host-tested `tessera-x86_64-mem` crate; this module adds what touches the machine.
pub mod heap;
pub mod kernel_map;
pub mod kmem;
pub mod probe;
pub mod stacks;

pub use tessera_x86_64_mem::{frame_alloc, layout, page_table};
