//! The program's heap: `talc` over a static arena in `.bss`, behind a `spin` lock.
//!
//! Guarantees: `alloc` works from the first instruction of `main` (talc claims the arena on
//! its first out-of-memory); an allocation beyond the arena fails and `alloc` reports it
//! through the panic handler. The lock protects the allocator's free lists; it is a leaf (no
//! other lock is taken while it is held), and a program's processes share it only if they
//! share an address space.

use talc::{ClaimOnOom, Span, Talc, Talck};

/// Bytes of heap every program gets.
const ARENA_BYTES: usize = 64 * 1024;

static mut ARENA: [u8; ARENA_BYTES] = [0; ARENA_BYTES];

#[global_allocator]
static ALLOCATOR: Talck<spin::Mutex<()>, ClaimOnOom> = Talc::new(
    // SAFETY: the arena is used by nothing but this allocator, which claims it once.
    unsafe { ClaimOnOom::new(Span::from_array(core::ptr::addr_of!(ARENA).cast_mut())) },
)
.lock();
