//! `Table<T>`: a fixed-capacity arena of kernel objects named by (index, generation), each with
//! its protocol lock and transient pin.
//!
//! # Invariants
//! - A slot's generation is even while the slot is free and odd while it holds an object; it
//!   only grows. An `ObjId` is live exactly when its generation equals its slot's, so a
//!   capability to a destroyed object never matches again (until the counter wraps after 2^31
//!   reuses of one slot).
//! - `lock` (an `MrowLock`, on the CPU's held-lock list) protects `data`: the object is reached
//!   through an `UnsafeCell` with no second lock, so this file is the one place in the core that
//!   allows `unsafe`, and each block says which hold of `lock` makes it sound.
//!
//! # Assumptions (the lock discipline every caller keeps)
//! - `read` runs only while this CPU holds the slot's `lock` for reading or writing, `write` and
//!   `remove` only while it holds it for writing, and `insert` only on a slot just popped from
//!   the free list (no name reaches it yet). The exception is a quiescent kernel (no CPU inside
//!   it: boot, and the invariant checks of tests and the simulator), where one thread is alone.
//!   Debug builds assert the lock is held in a fitting mode whenever some CPU holds any lock.
//! - An access's closure never reaches the same slot again (the nested borrow would alias).
//! - Capacity is fixed at boot and may be smaller than what the banks' quotas allow: a path
//!   that creates an object reserves its slot in the prepare phase (`reserve`), so a full table
//!   is refused like an exhausted bank, before the commit point.
#![allow(unsafe_code)]

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use spin::mutex::SpinMutex;

use crate::cap::ObjId;
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::{MrowLock, TransientPin};

struct Slot<T> {
    lock: MrowLock,
    pin: TransientPin,
    generation: AtomicU32,
    data: UnsafeCell<Option<T>>,
}

/// A table of objects of one type.
pub struct Table<T> {
    slots: Box<[Slot<T>]>,
    /// Free slot indices. Leaf lock: held alone for one pop or push.
    free: SpinMutex<Vec<u32>>,
}

// SAFETY: every access to a slot's `data` is ordered by that slot's `MrowLock` (see the file's
// assumptions), exactly as an `RwLock<Option<T>>` would order it, so the same bounds suffice.
unsafe impl<T: Send + Sync> Sync for Table<T> {}

impl<T> Table<T> {
    /// A table of `capacity` free slots.
    pub fn new(capacity: usize) -> Table<T> {
        let slots = (0..capacity)
            .map(|_| Slot {
                lock: MrowLock::new(),
                pin: TransientPin::new(),
                generation: AtomicU32::new(0),
                data: UnsafeCell::new(None),
            })
            .collect();
        Table {
            slots,
            free: SpinMutex::new((0..capacity as u32).rev().collect()),
        }
    }

    /// How many slots the table has.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// How many slots are free.
    pub fn free_slots(&self) -> usize {
        self.free.lock().len()
    }

    /// The protocol lock of slot `index` (for `HeldLocks`).
    #[inline]
    pub fn lock(&self, index: u32) -> &MrowLock {
        &self.slots[index as usize].lock
    }

    /// The transient pin of slot `index`.
    pub fn pin(&self, index: u32) -> &TransientPin {
        &self.slots[index as usize].pin
    }

    /// Whether `id` names a live object.
    #[inline]
    pub fn is_live(&self, id: ObjId) -> bool {
        self.slots.get(id.index as usize).is_some_and(|s| {
            id.generation & 1 == 1 && s.generation.load(Ordering::Acquire) == id.generation
        })
    }

    /// Puts `value` in a free slot and names it; `None` if the table is full. For a quiescent
    /// kernel (boot); a kernel path reserves its slot in the prepare phase instead (`reserve`).
    pub fn insert(&self, value: T) -> Option<ObjId> {
        Some(self.reserve()?.fill(value))
    }

    /// Takes a free slot off the free list for an object a path will create after its commit
    /// point; `None` if the table is full. The slot goes back if the reservation is dropped
    /// unfilled, so a prepare phase that fails later leaves no trace.
    pub fn reserve(&self) -> Option<Reservation<'_, T>> {
        let index = self.free.lock().pop()?;
        Some(Reservation { table: self, index })
    }

    /// Destroys the object `id` names, returning it; `None` if it is already gone.
    pub fn remove(&self, id: ObjId) -> Option<T> {
        if !self.is_live(id) {
            return None;
        }
        let slot = &self.slots[id.index as usize];
        debug_assert_held(&slot.lock, true);
        slot.generation.fetch_add(1, Ordering::AcqRel);
        // SAFETY: the caller holds `slot.lock` for writing (file assumptions), so no other
        // access to `data` runs; the slot returns to the free list only after this take.
        let value = unsafe { (*slot.data.get()).take() };
        self.free.lock().push(id.index);
        value
    }

    /// Runs `f` on the live object `id` names.
    #[inline]
    pub fn read<R>(&self, id: ObjId, f: impl FnOnce(&T) -> R) -> Option<R> {
        if !self.is_live(id) {
            return None;
        }
        let slot = &self.slots[id.index as usize];
        debug_assert_held(&slot.lock, false);
        // SAFETY: the caller holds `slot.lock` for reading or writing (file assumptions), so
        // no writer of `data` runs on any CPU while this shared borrow lives.
        let value = unsafe { &*slot.data.get() };
        value.as_ref().map(f)
    }

    /// Runs `f` on the live object `id` names, mutably.
    #[inline(always)]
    pub fn write<R>(&self, id: ObjId, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if !self.is_live(id) {
            return None;
        }
        let slot = &self.slots[id.index as usize];
        debug_assert_held(&slot.lock, true);
        // SAFETY: the caller holds `slot.lock` for writing (file assumptions), so no other
        // access to `data` runs on any CPU while this unique borrow lives.
        let value = unsafe { &mut *slot.data.get() };
        value.as_mut().map(f)
    }

    /// The name of the live object in slot `index`, if any.
    pub fn id_at(&self, index: u32) -> Option<ObjId> {
        let generation = self
            .slots
            .get(index as usize)?
            .generation
            .load(Ordering::Acquire);
        (generation & 1 == 1).then_some(ObjId { index, generation })
    }

    /// Every live object's name, in index order (for invariant checks and `ps`).
    pub fn live_ids(&self) -> impl Iterator<Item = ObjId> + '_ {
        (0..self.slots.len() as u32).filter_map(|i| self.id_at(i))
    }
}

/// A free slot taken off its table's free list: no name reaches it, so only its holder can
/// fill it. Dropped unfilled, it goes back to the free list.
pub struct Reservation<'t, T> {
    table: &'t Table<T>,
    index: u32,
}

impl<T> Reservation<'_, T> {
    /// The index of the reserved slot (the object's name will carry it).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Puts `value` in the reserved slot and names it.
    pub fn fill(self, value: T) -> ObjId {
        let this = core::mem::ManuallyDrop::new(self);
        let slot = &this.table.slots[this.index as usize];
        // SAFETY: the slot was popped from the free list for this reservation alone, and its
        // generation is even, so no name and no other CPU reaches `data` until the increment.
        unsafe { *slot.data.get() = Some(value) };
        let generation = slot.generation.fetch_add(1, Ordering::AcqRel) + 1;
        ObjId {
            index: this.index,
            generation,
        }
    }
}

impl<T> Drop for Reservation<'_, T> {
    fn drop(&mut self) {
        self.table.free.lock().push(self.index);
    }
}

/// One object outside any table (the post pool, an IRQ line) with its protocol lock; the same
/// rules as a table slot.
pub struct Guarded<T> {
    lock: MrowLock,
    data: UnsafeCell<T>,
}

// SAFETY: every access to `data` is ordered by `lock`, as for a table slot.
unsafe impl<T: Send + Sync> Sync for Guarded<T> {}

impl<T> Guarded<T> {
    /// `value` behind a free lock.
    pub fn new(value: T) -> Guarded<T> {
        Guarded {
            lock: MrowLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The protocol lock.
    pub fn lock(&self) -> &MrowLock {
        &self.lock
    }

    /// Runs `f` on the value.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        debug_assert_held(&self.lock, false);
        // SAFETY: the caller holds `self.lock` for reading or writing (file assumptions).
        f(unsafe { &*self.data.get() })
    }

    /// Runs `f` on the value, mutably.
    pub fn write<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        debug_assert_held(&self.lock, true);
        // SAFETY: the caller holds `self.lock` for writing (file assumptions).
        f(unsafe { &mut *self.data.get() })
    }
}

/// Catches, in debug builds, an access whose protocol lock is not held in a fitting mode. A lock
/// that nobody holds at all is taken for a quiescent kernel (boot, invariant checks).
#[inline]
fn debug_assert_held(lock: &MrowLock, write: bool) {
    if cfg!(debug_assertions) && !lock.is_free() {
        let fits = lock.is_write_locked() || (!write && lock.readers() > 0);
        debug_assert!(
            fits,
            "object reached without its protocol lock (lock discipline)"
        );
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_removed_object_stops_matching_and_its_slot_is_reused() {
        let t: Table<u32> = Table::new(1);
        let a = t.insert(7).unwrap();
        assert!(t.insert(8).is_none(), "full");
        assert_eq!(t.read(a, |v| *v), Some(7));
        assert_eq!(t.remove(a), Some(7));
        assert!(!t.is_live(a));
        assert_eq!(t.read(a, |v| *v), None);
        assert_eq!(t.remove(a), None);
        let b = t.insert(9).unwrap();
        assert_eq!(b.index, a.index);
        assert_ne!(b.generation, a.generation);
        assert_eq!(
            t.read(a, |v| *v),
            None,
            "the old name does not reach the new object"
        );
        assert_eq!(t.write(b, |v| std::mem::replace(v, 1)), Some(9));
    }

    #[test]
    fn a_dropped_reservation_gives_its_slot_back() {
        let t: Table<u32> = Table::new(1);
        let r = t.reserve().unwrap();
        assert!(t.reserve().is_none(), "the one slot is reserved");
        assert!(t.insert(1).is_none());
        drop(r);
        assert_eq!(t.free_slots(), 1);
        let a = t.reserve().unwrap().fill(5);
        assert_eq!(t.read(a, |v| *v), Some(5));
        assert_eq!(t.free_slots(), 0);
    }

    #[test]
    fn names_out_of_range_are_not_live() {
        let t: Table<u32> = Table::new(2);
        assert!(!t.is_live(ObjId {
            index: 5,
            generation: 1
        }));
        assert!(!t.is_live(ObjId::NONE));
        assert_eq!(t.live_ids().count(), 0);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "without its protocol lock")]
    fn writing_under_a_read_hold_is_caught_in_debug_builds() {
        let t: Table<u32> = Table::new(1);
        let a = t.insert(7).unwrap();
        t.lock(a.index).read();
        t.write(a, |v| *v = 8);
    }

    #[test]
    fn reading_and_writing_under_the_fitting_hold_works() {
        let t: Table<u32> = Table::new(1);
        let a = t.insert(7).unwrap();
        t.lock(a.index).read();
        assert_eq!(t.read(a, |v| *v), Some(7));
        t.lock(a.index).unlock_read();
        t.lock(a.index).write();
        assert_eq!(t.write(a, |v| std::mem::replace(v, 8)), Some(7));
        t.lock(a.index).unlock_write();
        assert_eq!(t.read(a, |v| *v), Some(8));
    }
}
