//! `MrowLock`: a stubborn multiple-reader, one-writer spin lock (seed 001, sections 4.2, 4.4).
//!
//! # Invariants
//! - Never a writer together with a reader: the `WRITER` bit and a non-zero reader count are
//!   never both set.
//! - A waiting writer blocks new readers (the waiter count is non-zero), so a stream of readers
//!   cannot starve a writer; readers already inside finish and the writer then gets in.
//! - Acquiring has `Acquire` ordering and releasing has `Release` ordering, so everything done
//!   under the lock is visible to the next holder.
//!
//! # Assumptions
//! - Holders are kernel paths that run with interrupts off and never sleep: waiting is spinning.
//! - There are no guards: locks are released in bulk by `HeldLocks::release_all`, so the caller
//!   pairs every acquire with exactly one release of the same mode (a mismatch panics: kernel bug).
//! - Fewer than 2^15 CPUs wait and fewer than 2^16 read-hold at once (one per CPU in practice).

use super::atomic::{spin_loop, AtomicU32, Ordering};

const READER: u32 = 1;
const READER_MASK: u32 = 0xffff;
const WAITER: u32 = 1 << 16;
const WAITER_MASK: u32 = 0x7fff << 16;
const WRITER: u32 = 1 << 31;

/// A reader/writer spin lock word. It protects whatever its owner says it does; the lock order
/// it takes part in is written in `sync/mod.rs`.
#[derive(Debug)]
pub struct MrowLock {
    state: AtomicU32,
}

impl Default for MrowLock {
    fn default() -> Self {
        MrowLock::new()
    }
}

impl MrowLock {
    /// An unlocked lock.
    #[cfg(not(loom))]
    pub const fn new() -> MrowLock {
        MrowLock { state: AtomicU32::new(0) }
    }

    /// An unlocked lock (loom's atomics cannot be built in a `const fn`).
    #[cfg(loom)]
    pub fn new() -> MrowLock {
        MrowLock { state: AtomicU32::new(0) }
    }

    /// Takes a read hold unless the lock is write-held or a writer is waiting.
    pub fn try_read(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (WRITER | WAITER_MASK) != 0 {
                return false;
            }
            assert!(s & READER_MASK != READER_MASK, "MrowLock reader count overflow");
            match self.state.compare_exchange(s, s + READER, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// Takes the write hold if nobody holds the lock.
    pub fn try_write(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (WRITER | READER_MASK) != 0 {
                return false;
            }
            match self.state.compare_exchange(s, s | WRITER, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// Turns the caller's read hold into the write hold if it is the only reader; otherwise
    /// leaves the read hold in place and returns false (two upgraders must not wait on each
    /// other, so there is no spinning upgrade).
    pub fn try_upgrade(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            assert!(s & READER_MASK != 0, "MrowLock::try_upgrade without a read hold");
            if s & READER_MASK != READER {
                return false;
            }
            let new = (s - READER) | WRITER;
            match self.state.compare_exchange(s, new, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// Spins until a read hold is taken.
    pub fn read(&self) {
        while !self.try_read() {
            spin_loop();
        }
    }

    /// Spins until the write hold is taken; while waiting, it holds new readers off.
    pub fn write(&self) {
        if self.try_write() {
            return;
        }
        let prev = self.state.fetch_add(WAITER, Ordering::Relaxed);
        assert!(prev & WAITER_MASK != WAITER_MASK, "MrowLock waiter count overflow");
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (WRITER | READER_MASK) == 0 {
                let new = (s - WAITER) | WRITER;
                match self.state.compare_exchange(s, new, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => return,
                    Err(now) => s = now,
                }
            } else {
                spin_loop();
                s = self.state.load(Ordering::Relaxed);
            }
        }
    }

    /// Drops one read hold. Panics if the lock was not read-held (a kernel bug).
    pub fn unlock_read(&self) {
        let prev = self.state.fetch_sub(READER, Ordering::Release);
        assert!(prev & READER_MASK != 0, "MrowLock::unlock_read without a read hold");
    }

    /// Drops the write hold. Panics if the lock was not write-held (a kernel bug).
    pub fn unlock_write(&self) {
        let prev = self.state.fetch_and(!WRITER, Ordering::Release);
        assert!(prev & WRITER != 0, "MrowLock::unlock_write without the write hold");
    }

    /// Whether some CPU holds the write hold (a snapshot, for assertions and the simulator).
    pub fn is_write_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & WRITER != 0
    }

    /// How many read holds exist (a snapshot).
    pub fn readers(&self) -> u32 {
        self.state.load(Ordering::Relaxed) & READER_MASK
    }

    /// Whether nobody holds the lock (a snapshot; waiting writers do not count as holders).
    pub fn is_free(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (WRITER | READER_MASK) == 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn many_readers_no_writer() {
        let l = MrowLock::new();
        assert!(l.try_read());
        assert!(l.try_read());
        assert_eq!(l.readers(), 2);
        assert!(!l.try_write());
        l.unlock_read();
        assert!(!l.try_write());
        l.unlock_read();
        assert!(l.try_write());
        assert!(l.is_write_locked());
    }

    #[test]
    fn writer_excludes_everyone() {
        let l = MrowLock::new();
        l.write();
        assert!(!l.try_read());
        assert!(!l.try_write());
        l.unlock_write();
        assert!(l.is_free());
        assert!(l.try_read());
    }

    #[test]
    fn upgrade_only_for_a_sole_reader() {
        let l = MrowLock::new();
        l.read();
        l.read();
        assert!(!l.try_upgrade());
        assert_eq!(l.readers(), 2);
        l.unlock_read();
        assert!(l.try_upgrade());
        assert!(l.is_write_locked());
        assert_eq!(l.readers(), 0);
        l.unlock_write();
        assert!(l.is_free());
    }

    #[test]
    #[should_panic(expected = "unlock_read without a read hold")]
    fn unlock_read_of_a_free_lock_is_a_bug() {
        MrowLock::new().unlock_read();
    }

    #[test]
    #[should_panic(expected = "unlock_write without the write hold")]
    fn unlock_write_of_a_read_lock_is_a_bug() {
        let l = MrowLock::new();
        l.read();
        l.unlock_write();
    }

    #[test]
    fn a_waiting_writer_holds_new_readers_off_and_then_gets_in() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let l = Arc::new(MrowLock::new());
        l.read();
        let got = Arc::new(AtomicBool::new(false));
        let writer = {
            let (l, got) = (Arc::clone(&l), Arc::clone(&got));
            std::thread::spawn(move || {
                l.write();
                got.store(true, std::sync::atomic::Ordering::SeqCst);
                l.unlock_write();
            })
        };
        while l.state.load(Ordering::Relaxed) & WAITER_MASK == 0 {
            std::thread::yield_now();
        }
        assert!(!l.try_read(), "a new reader barged past a waiting writer");
        assert!(!got.load(std::sync::atomic::Ordering::SeqCst));
        l.unlock_read();
        writer.join().unwrap();
        assert!(got.load(std::sync::atomic::Ordering::SeqCst));
        assert!(l.is_free());
        assert!(l.try_read());
    }
}
