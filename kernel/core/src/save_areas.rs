//! Every process's register save area, kept apart from its object (`Process`) so that the CPU
//! running a process can own the area while other CPUs lock the object.
//!
//! The arch's entry assembly saves a process's registers straight into its area when it
//! leaves user mode and loads them from there when it enters (DESIGN.md: a thread's kernel
//! state is only its save area); the core reads the invocation from it and writes the reply
//! into it. Nothing copies a whole area on the way (issue 11's fast path).
//!
//! # Invariants
//! - Slot `i` is the area of the process in process-table slot `i`; it is reset to the
//!   platform's default when a process is created there (`orders/bank.rs`).
//!
//! # Assumptions (the ownership rule every caller keeps)
//! - The area of a process current on a CPU (`Process::cpu` is that CPU, set and cleared
//!   under the process's write lock) belongs to that CPU alone: its entry assembly and trap
//!   path write it without a lock while the process is in user mode, and the core on that CPU
//!   reads and writes it with or without the process's lock.
//! - The area of a process current on no CPU belongs to whoever holds its protocol lock:
//!   written under the write lock, read under either mode. Passing from one rule to the other
//!   happens under the write lock (`Kernel::become_current`, `Kernel::left_cpu`), whose release
//!   and acquisition order every access before it with every access after.
//! - A slot's area is not reused while its process is current on a CPU: a process's DESTROY
//!   of a process running elsewhere halts it and waits until that CPU has left it
//!   (`stop_before_destroy`). The kernel's own orders (`kernel_invoke`) do not wait; the
//!   x86_64 kernel uses them only at boot and on the process current on the same CPU, and the
//!   entries with a frame the simulator plays check that the current process still lives
//!   (`framed.rs`).
//! - A closure given an area never reaches the same area again (the nested borrow would
//!   alias). `Kernel::regs` checks the first two rules in debug builds.
#![allow(unsafe_code)]

use alloc::boxed::Box;
use core::cell::UnsafeCell;

use crate::cap::ObjId;

/// The save areas of all process slots.
pub struct SaveAreas<S> {
    areas: Box<[UnsafeCell<S>]>,
}

// SAFETY: every access to an area is ordered by the ownership rule of the file header (one CPU
// owns an area at a time, and ownership passes under a lock), as a lock would order it.
unsafe impl<S: Send> Sync for SaveAreas<S> {}

impl<S: Default> SaveAreas<S> {
    /// `capacity` areas, one per process slot.
    pub fn new(capacity: usize) -> SaveAreas<S> {
        SaveAreas {
            areas: (0..capacity)
                .map(|_| UnsafeCell::new(S::default()))
                .collect(),
        }
    }
}

impl<S> SaveAreas<S> {
    /// Runs `f` on the area of process `id`, which the caller owns (file header).
    #[inline]
    pub(crate) fn with<R>(&self, id: ObjId, f: impl FnOnce(&mut S) -> R) -> R {
        // SAFETY: the caller owns the area (the file's assumptions), so no other reference to
        // it exists for the closure's time.
        f(unsafe { &mut *self.areas[id.index as usize].get() })
    }

    /// Where the area of process `id` is, for the arch: its entry assembly and trap path write
    /// and read it while `id` is current on their CPU, and only then.
    #[inline]
    pub fn area(&self, id: ObjId) -> *mut S {
        self.areas[id.index as usize].get()
    }
}
