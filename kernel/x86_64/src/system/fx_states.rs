//! Each process's x87/SSE state (its FXSAVE image), kept here rather than in the core's save
//! area, which the core copies by value on every invocation.
//!
//! Invariants: slot `i` belongs to the process at table index `i` of the generation recorded in
//! it; a process of a newer generation (the index was reused) starts from the initial state,
//! so no vector register content passes from a destroyed process to its successor. A slot is
//! touched only by the CPU on which its process is current, and the core makes a process
//! current on at most one CPU at a time, so slots need no lock.

use crate::user::context::FxState;
use alloc::boxed::Box;
use core::cell::UnsafeCell;
use spin::Once;
use tessera_core::cap::ObjId;

struct Slot {
    generation: UnsafeCell<u32>,
    state: UnsafeCell<FxState>,
}

struct Slots(Box<[Slot]>);

// SAFETY: see the module invariant: each slot is used by one CPU at a time.
unsafe impl Sync for Slots {}

static SLOTS: Once<Slots> = Once::new();

pub fn init(processes: usize) {
    SLOTS.call_once(|| {
        Slots(
            (0..processes)
                .map(|_| Slot {
                    generation: UnsafeCell::new(0),
                    state: UnsafeCell::new(FxState::initial()),
                })
                .collect(),
        )
    });
}

/// The FXSAVE area of `process`, which must be current on this CPU.
pub fn of(process: ObjId) -> &'static mut FxState {
    let slots = SLOTS.get().expect("slots are made with the kernel");
    let slot = &slots.0[process.index as usize];
    // SAFETY: `process` is current on this CPU, so by the module invariant no other CPU
    // touches this slot until it is descheduled, after this borrow ends.
    unsafe {
        if *slot.generation.get() != process.generation {
            *slot.state.get() = FxState::initial();
            *slot.generation.get() = process.generation;
        }
        &mut *slot.state.get()
    }
}
