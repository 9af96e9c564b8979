//! `MrowLock`: a stubborn multiple-reader, one-writer spin lock (seed 001, sections 4.2, 4.4),
//! phase-fair so that neither readers nor writers starve (seed 001, section 5.4: "we need to
//! ensure that none of them starve").
//!
//! The algorithm is the phase-fair ticket lock (PF-T) of Brandenburg and Anderson: writers take
//! tickets and are served in order; a reader that arrives while a writer holds or waits goes in
//! right after that writer, before the next one. So a reader waits for at most one writer
//! phase, and a writer for the readers already present plus the writers ahead of it.
//!
//! # Invariants
//! - Never a writer together with a reader, nor two writers.
//! - `rin` counts readers that have entered or are waiting to (in steps of `RINC`) and carries
//!   the present writer's bits (`PRES`, and `PHID`, the low bit of its ticket); `rout` counts
//!   readers that have left. `win` is the next writer ticket, `wout` the one being served.
//! - The writer served (`wout`) holds the lock once `rout` equals `rin` as it was just before it
//!   set its bits: every reader that entered earlier has left, and later ones wait.
//! - Acquiring has `Acquire` ordering and releasing `Release`, so everything done under the
//!   lock is visible to the next holder.
//!
//! # Assumptions
//! - Holders are kernel paths that run with interrupts off and never sleep: waiting is spinning.
//! - There are no guards: locks are released in bulk by `HeldLocks::release_all`, so the caller
//!   pairs every acquire with exactly one release of the same mode (a mismatch it can detect
//!   panics: a kernel bug).
//! - Fewer than 2^24 readers and 2^32 writers are inside or waiting at once (counters wrap).

use super::atomic::{spin_loop, AtomicBool, AtomicU32, Ordering};

/// One reader, in `rin` and `rout`.
const RINC: u32 = 0x100;
/// A writer is present (holding, or waiting for the readers ahead of it).
const PRES: u32 = 0x2;
/// The present writer's phase: the low bit of its ticket, so consecutive writers differ.
const PHID: u32 = 0x1;
const WBITS: u32 = PRES | PHID;

/// A reader/writer spin lock. It protects whatever its owner says it does; the lock order it
/// takes part in is written in `sync/mod.rs`.
#[derive(Debug)]
pub struct MrowLock {
    rin: AtomicU32,
    rout: AtomicU32,
    win: AtomicU32,
    wout: AtomicU32,
    /// Set while the write hold is held: lets `unlock_write` catch a release without a hold.
    writing: AtomicBool,
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
        MrowLock {
            rin: AtomicU32::new(0),
            rout: AtomicU32::new(0),
            win: AtomicU32::new(0),
            wout: AtomicU32::new(0),
            writing: AtomicBool::new(false),
        }
    }

    /// An unlocked lock (loom's atomics cannot be built in a `const fn`).
    #[cfg(loom)]
    pub fn new() -> MrowLock {
        MrowLock {
            rin: AtomicU32::new(0),
            rout: AtomicU32::new(0),
            win: AtomicU32::new(0),
            wout: AtomicU32::new(0),
            writing: AtomicBool::new(false),
        }
    }

    /// Takes a read hold unless a writer holds the lock or waits for it.
    pub fn try_read(&self) -> bool {
        let mut r = self.rin.load(Ordering::Relaxed);
        loop {
            if r & WBITS != 0 {
                return false;
            }
            match self.rin.compare_exchange(
                r,
                r.wrapping_add(RINC),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => r = now,
            }
        }
    }

    /// Spins until a read hold is taken: at most until the present writer, if any, leaves.
    #[inline]
    pub fn read(&self) {
        let w = self.rin.fetch_add(RINC, Ordering::Acquire) & WBITS;
        if w == 0 {
            return;
        }
        while self.rin.load(Ordering::Acquire) & WBITS == w {
            spin_loop();
        }
    }

    /// Takes the write hold if nobody holds the lock or waits for it.
    #[inline]
    pub fn try_write(&self) -> bool {
        self.try_write_with(0)
    }

    /// Spins until the write hold is taken: after the writers ahead and the readers present.
    #[inline]
    pub fn write(&self) {
        let ticket = self.win.fetch_add(1, Ordering::Relaxed);
        while self.wout.load(Ordering::Acquire) != ticket {
            spin_loop();
        }
        let entered = self.announce(ticket);
        while self.rout.load(Ordering::Acquire) != entered {
            spin_loop();
        }
        self.writing.store(true, Ordering::Relaxed);
    }

    /// Turns the caller's read hold into the write hold if it is the only reader and no writer
    /// waits; otherwise leaves the read hold in place and returns false (two upgraders must not
    /// wait on each other, so there is no spinning upgrade).
    pub fn try_upgrade(&self) -> bool {
        if !self.try_write_with(RINC) {
            return false;
        }
        // The caller's read hold ends as its write hold begins.
        self.rout.fetch_add(RINC, Ordering::AcqRel);
        true
    }

    /// Takes the write hold if no writer holds or waits and exactly `inside` worth of readers
    /// (none, or the caller alone) are in. A failed try shows no writer phase and takes no
    /// ticket that it does not give back unseen: a reader waiting for a writer's phase to end
    /// knows the phase only by its parity bit, so a phase that came and went without waiting
    /// for it would let the next writer of the same parity wait for it while it waits for
    /// that writer (seen as a four-CPU hang under the fuzzer).
    #[inline]
    fn try_write_with(&self, inside: u32) -> bool {
        let r = self.rin.load(Ordering::Acquire);
        let left = self.rout.load(Ordering::Acquire);
        if r & WBITS != 0 || (r & !WBITS).wrapping_sub(left) != inside {
            return false;
        }
        let Some(ticket) = self.try_take_ticket() else {
            return false;
        };
        let bits = PRES | (ticket & PHID);
        if self
            .rin
            .compare_exchange(r, r | bits, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            // A reader came in after the check, finding no writer bits: it holds the lock and
            // waits for no phase, and no reader waited before (the check), so passing the
            // ticket on unseen can mislead nobody.
            self.wout.fetch_add(1, Ordering::Release);
            return false;
        }
        self.writing.store(true, Ordering::Relaxed);
        true
    }

    /// Drops one read hold. Panics if no reader is in (a kernel bug).
    #[inline]
    pub fn unlock_read(&self) {
        // `rout` first: read in this order, the difference never undercounts the caller. Acquire,
        // so that a reader's departure seen here brings its arrival in `rin` with it (relaxed,
        // another reader's `rout` could be seen without its `rin`: a hold wrongly denied).
        let left = self.rout.load(Ordering::Acquire);
        let entered = self.rin.load(Ordering::Relaxed) & !WBITS;
        assert!(entered != left, "MrowLock::unlock_read without a read hold");
        self.rout.fetch_add(RINC, Ordering::Release);
    }

    /// Drops the write hold. Panics if the lock was not write-held (a kernel bug).
    #[inline]
    pub fn unlock_write(&self) {
        assert!(
            self.writing.swap(false, Ordering::Relaxed),
            "MrowLock::unlock_write without the write hold"
        );
        self.retire_writer();
    }

    /// Whether some CPU holds the write hold (a snapshot, for assertions and tests).
    pub fn is_write_locked(&self) -> bool {
        self.writing.load(Ordering::Relaxed)
    }

    /// How many readers are in or waiting to enter behind a writer (a snapshot).
    pub fn readers(&self) -> u32 {
        let left = self.rout.load(Ordering::Relaxed);
        let entered = self.rin.load(Ordering::Relaxed) & !WBITS;
        entered.wrapping_sub(left) / RINC
    }

    /// Whether nobody holds the lock or waits for it (a snapshot: exact when no CPU is in the
    /// kernel, which is when the simulator checks it).
    pub fn is_free(&self) -> bool {
        self.win.load(Ordering::Relaxed) == self.wout.load(Ordering::Relaxed) && self.readers() == 0
    }

    /// Takes the next writer ticket only if it is being served right now.
    #[inline]
    fn try_take_ticket(&self) -> Option<u32> {
        let ticket = self.win.load(Ordering::Relaxed);
        if self.wout.load(Ordering::Acquire) != ticket {
            return None;
        }
        self.win
            .compare_exchange(
                ticket,
                ticket.wrapping_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .ok()
    }

    /// Marks the served writer present, stopping new readers; returns the readers' entry count
    /// that `rout` must reach before the writer holds the lock.
    #[inline]
    fn announce(&self, ticket: u32) -> u32 {
        let bits = PRES | (ticket & PHID);
        self.rin.fetch_add(bits, Ordering::AcqRel) & !WBITS
    }

    /// The served writer leaves (after holding, or giving up a try): waiting readers go in,
    /// then the next ticket is served.
    #[inline]
    fn retire_writer(&self) {
        self.rin.fetch_and(!WBITS, Ordering::Release);
        self.wout.fetch_add(1, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A reader that came while writer A held the lock waits for A's phase to end, which it
    /// knows by A's parity bit. If a failed try made a phase of the other parity come and go
    /// before the reader looked, the next writer would show A's parity again and wait for the
    /// reader, which would go on waiting for it.
    #[test]
    fn a_failed_try_never_gives_the_next_writer_the_phase_a_reader_waits_out() {
        for fail in [
            MrowLock::try_write as fn(&MrowLock) -> bool,
            |l: &MrowLock| {
                assert!(l.try_read());
                let up = l.try_upgrade();
                l.unlock_read();
                up
            },
        ] {
            let l = MrowLock::new();
            l.write();
            let waited_for = l.rin.fetch_add(RINC, Ordering::Acquire) & WBITS;
            assert_ne!(waited_for, 0, "the reader must wait for writer A");
            l.unlock_write();
            assert!(!fail(&l), "the waiting reader is in: the try must fail");
            let next = l.win.load(Ordering::Relaxed);
            assert_ne!(
                PRES | (next & PHID),
                waited_for,
                "the next writer's phase looks like A's to the waiting reader"
            );
        }
    }

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
    fn a_failed_try_leaves_no_trace() {
        let l = MrowLock::new();
        l.read();
        for _ in 0..3 {
            assert!(!l.try_write());
        }
        l.unlock_read();
        assert!(l.is_free());
        l.write();
        l.unlock_write();
        l.read();
        assert_eq!(l.readers(), 1);
        l.unlock_read();
        assert!(l.is_free());
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

    fn wait_until(f: impl Fn() -> bool) {
        while !f() {
            std::thread::yield_now();
        }
    }

    fn spawn_logged(
        l: &Arc<MrowLock>,
        log: &Arc<Mutex<Vec<&'static str>>>,
        name: &'static str,
        write: bool,
    ) -> std::thread::JoinHandle<()> {
        let (l, log) = (Arc::clone(l), Arc::clone(log));
        std::thread::spawn(move || {
            if write {
                l.write();
            } else {
                l.read();
            }
            log.lock().unwrap().push(name);
            if write {
                l.unlock_write();
            } else {
                l.unlock_read();
            }
        })
    }

    #[test]
    fn a_waiting_writer_holds_new_readers_off_and_then_gets_in() {
        let l = Arc::new(MrowLock::new());
        let log = Arc::new(Mutex::new(Vec::new()));
        l.read();
        let w = spawn_logged(&l, &log, "writer", true);
        wait_until(|| l.rin.load(Ordering::Relaxed) & PRES != 0);
        assert!(!l.try_read(), "a new reader barged past a waiting writer");
        assert!(log.lock().unwrap().is_empty());
        l.unlock_read();
        w.join().unwrap();
        assert_eq!(*log.lock().unwrap(), ["writer"]);
        assert!(l.is_free());
    }

    #[test]
    fn writers_are_served_in_ticket_order() {
        let l = Arc::new(MrowLock::new());
        let log = Arc::new(Mutex::new(Vec::new()));
        l.read();
        let w1 = spawn_logged(&l, &log, "w1", true);
        wait_until(|| l.win.load(Ordering::Relaxed) == 1);
        let w2 = spawn_logged(&l, &log, "w2", true);
        wait_until(|| l.win.load(Ordering::Relaxed) == 2);
        l.unlock_read();
        w1.join().unwrap();
        w2.join().unwrap();
        assert_eq!(*log.lock().unwrap(), ["w1", "w2"]);
        assert!(l.is_free());
    }

    #[test]
    fn a_reader_behind_a_writer_goes_before_the_next_writer() {
        let l = Arc::new(MrowLock::new());
        let log = Arc::new(Mutex::new(Vec::new()));
        l.write();
        let r = spawn_logged(&l, &log, "reader", false);
        wait_until(|| l.readers() == 1);
        let w2 = spawn_logged(&l, &log, "w2", true);
        wait_until(|| l.win.load(Ordering::Relaxed) == 2);
        l.unlock_write();
        r.join().unwrap();
        w2.join().unwrap();
        assert_eq!(*log.lock().unwrap(), ["reader", "w2"]);
        assert!(l.is_free());
    }
}
