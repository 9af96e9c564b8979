//! Physical and virtual memory.
pub mod frame_alloc;
pub mod layout;
pub mod page_table;
#[cfg(not(test))]
pub mod heap;
#[cfg(not(test))]
pub mod kernel_map;
#[cfg(not(test))]
pub mod kmem;
#[cfg(not(test))]
pub mod probe;
#[cfg(not(test))]
pub mod stacks;
