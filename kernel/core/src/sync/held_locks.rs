//! `HeldLocks`: the per-CPU list of object locks the current kernel path holds, released all at
//! once (seed 001, section 4.2: "release is all or nothing").
//!
//! # How a lock is named
//! Locks are named by a key `K` (an object's index in its table, say) and reached through a
//! `LockTable`, not by reference: the per-CPU list lives beside the object tables for the whole
//! life of the kernel, so it cannot borrow them, and a key needs no `unsafe` and no `'static`.
//! Keys are totally ordered; that order *is* the "ascending address order" of DESIGN.md.
//!
//! # Invariants
//! - Each key appears at most once; its recorded mode is the mode really held on its lock.
//! - After `release_all` the list is empty and every lock it named has been released once.
//! - No deadlock through this list: a path waits (spins) for a lock only when its key is above
//!   every key it already holds. Otherwise it only tries, and on failure returns `Restart`, and
//!   the caller releases everything and re-runs the call. Wait-for edges therefore always point
//!   to a strictly higher key, so they cannot form a cycle. This covers both phases: marshal-phase
//!   read locks in any order, and operation-phase locks in ascending order (`lock_in_order`).
//!   Progress after a restart is statistical, not guaranteed (seed 001, section 6.1 accepts
//!   this): the contended lock's holder finishes, so a re-run usually gets through.
//! - A key held for read is re-entrant: taking it again is a no-op, so a waiting writer on it can
//!   never stall the path that holds it.
//!
//! # Phases (seed 001, sections 5 and 6.2)
//! A path that names its phases starts with its self-lock (the caller's process lock, the one
//! write lock the marshal phase may hold) and calls `marshal`; then:
//! - **Marshal**: read locks only, in any order (the general rule above makes a key not above
//!   the held ones a try). Debug builds assert that no other lock is taken for writing and no
//!   read lock is upgraded.
//! - `operate` drops every marshal-phase lock but the self-lock, before any operation lock is
//!   taken, so no marshal-phase lock is held while waiting for an operation lock.
//! - **Operation**: locks in ascending key order (waited for) or by try and `Restart`; the path
//!   re-prepares what it marshalled under them (an object destroyed meanwhile is found dead).
//!
//! `release_all` ends the phases. Paths of one object (the scheduler's verdict, the syscall
//! entry's look at its caller) and the kernel's own work name no phase and keep the general
//! rule only.
//!
//! # Assumptions
//! - Only the owning CPU touches its list (it is per-CPU state, reached through `&mut`).
//! - The table maps a key to the same lock until the list no longer names that key.
//! - Overflow means a kernel path takes more locks than the kernel was sized for: a kernel bug,
//!   so it panics with the capacity in the message.
//!
//! # Turns (the simulator)
//! Every operation here is a point where the simulator may pause this CPU's kernel path and
//! run another CPU's (`LockTable::turn`): before each acquisition, after each release, and at
//! each try of a contended lock. On hardware `turn` is empty and compiles away. A table whose
//! CPUs take turns (`LockTable::TAKES_TURNS`) never spins on a lock: the holder cannot run
//! while a waiter spins, so the waiter tries again after each turn.

use super::mrow::MrowLock;

/// How a lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Shared with other readers.
    Read,
    /// Exclusive.
    Write,
}

/// Where a path is in seed 001's two phases (file header); kept in debug builds only, where
/// the rules are asserted.
#[cfg(debug_assertions)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No phase named: the general rule only.
    Unnamed,
    /// Read locks only, beyond the self-lock.
    Marshal,
    /// The marshal phase's locks are gone; operation locks are taken.
    Operation,
}

/// A lock was contended where waiting could deadlock: release everything and re-run the call
/// from its saved registers. Kernel paths propagate it with `?` up to the dispatcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restart;

/// Which lock operation a kernel path is at when it gives others a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// About to take a lock.
    Acquire,
    /// Has just released every lock (end of a path, or a restart).
    Release,
    /// Waits for a lock another CPU holds.
    Wait,
}

/// Where the locks named by keys live (the kernel's object tables).
pub trait LockTable<K> {
    /// Whether the CPUs using this table take turns on one host thread at a time (the
    /// simulator): waiting for a lock is then trying it between turns, never spinning.
    const TAKES_TURNS: bool = false;

    /// The lock of the object named `key`.
    fn lock_of(&self, key: K) -> &MrowLock;

    /// A point between lock operations where another CPU may run first (the simulator's
    /// interleaving inside kernel entries). Nothing on hardware.
    #[inline(always)]
    fn turn(&self, _at: Turn) {}
}

/// A plain array of locks named by index: for tests and small fixed tables.
impl LockTable<usize> for [MrowLock] {
    fn lock_of(&self, key: usize) -> &MrowLock {
        &self[key]
    }
}

/// The locks this CPU holds on the current kernel path; capacity `N`.
///
/// `top` is the highest key held: a key above it is not held and may be waited for, so the
/// common ascending acquisition costs no search at all.
#[derive(Debug)]
pub struct HeldLocks<K, const N: usize> {
    held: [Option<(K, LockMode)>; N],
    len: usize,
    top: Option<K>,
    #[cfg(debug_assertions)]
    phase: Phase,
}

impl<K: Copy + Ord, const N: usize> Default for HeldLocks<K, N> {
    fn default() -> Self {
        HeldLocks::new()
    }
}

impl<K: Copy + Ord, const N: usize> HeldLocks<K, N> {
    /// An empty list.
    pub const fn new() -> Self {
        HeldLocks {
            held: [None; N],
            len: 0,
            top: None,
            #[cfg(debug_assertions)]
            phase: Phase::Unnamed,
        }
    }

    /// Starts the marshal phase of a path whose one lock so far is its self-lock.
    #[inline]
    pub fn marshal(&mut self) {
        #[cfg(debug_assertions)]
        {
            assert!(
                self.phase == Phase::Unnamed && self.len == 1,
                "marshal phase begun with {} locks held in {:?} (kernel bug)",
                self.len,
                self.phase
            );
            self.phase = Phase::Marshal;
        }
    }

    /// Ends the marshal phase: every lock but the self-lock is released (all are read locks),
    /// and the operation phase begins.
    #[inline]
    pub fn operate<T: LockTable<K> + ?Sized>(&mut self, table: &T) {
        #[cfg(debug_assertions)]
        {
            assert!(
                self.phase == Phase::Marshal,
                "operation phase begun in {:?} (kernel bug)",
                self.phase
            );
            self.phase = Phase::Operation;
        }
        if self.len > 1 {
            self.release_marshal_reads(table);
        }
    }

    /// `operate`'s release, out of line: the general invocation path's marshal phase holds
    /// nothing but its self-lock, so this is off its hot path.
    #[cold]
    #[inline(never)]
    fn release_marshal_reads<T: LockTable<K> + ?Sized>(&mut self, table: &T) {
        for &(key, mode) in self.held[1..self.len].iter().flatten() {
            debug_assert!(
                mode == LockMode::Read,
                "a marshal-phase write lock (kernel bug)"
            );
            table.lock_of(key).unlock_read();
        }
        self.held[1..self.len].fill(None);
        self.len = 1;
        self.top = self.held[0].map(|(k, _)| k);
        table.turn(Turn::Release);
    }

    /// Debug builds: a write (or an upgrade) of `key` must not come in the marshal phase,
    /// unless `key` is the self-lock.
    #[inline(always)]
    fn may_write(&self, _key: K) {
        #[cfg(debug_assertions)]
        assert!(
            self.phase != Phase::Marshal || self.held[0].is_some_and(|(k, _)| k == _key),
            "a write lock in the marshal phase (kernel bug)"
        );
    }

    /// Whether nothing is held: the kernel exit path asserts this.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many locks are held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The mode `key` is held in, if it is held.
    pub fn mode_of(&self, key: K) -> Option<LockMode> {
        if !self.below_top(key) {
            return None;
        }
        for (k, m) in self.held[..self.len].iter().flatten() {
            if *k == key {
                return Some(*m);
            }
        }
        None
    }

    /// Every held key and its mode, in acquisition order.
    pub fn entries(&self) -> impl Iterator<Item = (K, LockMode)> + '_ {
        self.held[..self.len].iter().flatten().copied()
    }

    /// Takes `key` for reading: spins if that is deadlock-free (see the file header), otherwise
    /// tries once. A key already held in either mode is kept as it is.
    #[inline]
    pub fn read<T: LockTable<K> + ?Sized>(&mut self, table: &T, key: K) -> Result<(), Restart> {
        table.turn(Turn::Acquire);
        if !self.below_top(key) {
            let lock = table.lock_of(key);
            if T::TAKES_TURNS {
                while !lock.try_read() {
                    table.turn(Turn::Wait);
                }
            } else {
                lock.read();
            }
            self.push_top(key, LockMode::Read);
            return Ok(());
        }
        if self.mode_of(key).is_some() {
            return Ok(());
        }
        if !table.lock_of(key).try_read() {
            return Err(Restart);
        }
        self.record(key, LockMode::Read);
        Ok(())
    }

    /// Takes `key` for writing: spins if that is deadlock-free, otherwise tries once. A read
    /// hold of `key` is upgraded only if this CPU is its sole reader (else `Restart`).
    #[inline]
    pub fn write<T: LockTable<K> + ?Sized>(&mut self, table: &T, key: K) -> Result<(), Restart> {
        self.may_write(key);
        table.turn(Turn::Acquire);
        if !self.below_top(key) {
            let lock = table.lock_of(key);
            if T::TAKES_TURNS {
                while !lock.try_write() {
                    table.turn(Turn::Wait);
                }
            } else {
                lock.write();
            }
            self.push_top(key, LockMode::Write);
            return Ok(());
        }
        let lock = table.lock_of(key);
        match self.mode_of(key) {
            Some(LockMode::Write) => return Ok(()),
            Some(LockMode::Read) => {
                if !lock.try_upgrade() {
                    return Err(Restart);
                }
                self.set_mode(key, LockMode::Write);
                return Ok(());
            }
            None => {}
        }
        if !lock.try_write() {
            return Err(Restart);
        }
        self.record(key, LockMode::Write);
        Ok(())
    }

    /// Records `key`, which this CPU took in `mode` directly (a fast path that hands its first
    /// lock to the general path). The list must be empty: the key is then above every held one.
    pub fn adopt(&mut self, key: K, mode: LockMode) {
        assert!(
            self.is_empty(),
            "HeldLocks::adopt with locks already listed (kernel bug)"
        );
        self.push_top(key, mode);
    }

    /// Takes `key` in `mode`.
    pub fn acquire<T: LockTable<K> + ?Sized>(
        &mut self,
        table: &T,
        key: K,
        mode: LockMode,
    ) -> Result<(), Restart> {
        match mode {
            LockMode::Read => self.read(table, key),
            LockMode::Write => self.write(table, key),
        }
    }

    /// Takes `key` in `mode` without ever spinning (the first step of halting a process that
    /// may be running elsewhere: seed 001, section 5.4). `Restart` if it is not free now.
    pub fn try_acquire<T: LockTable<K> + ?Sized>(
        &mut self,
        table: &T,
        key: K,
        mode: LockMode,
    ) -> Result<(), Restart> {
        if mode == LockMode::Write {
            self.may_write(key);
        }
        table.turn(Turn::Acquire);
        let lock = table.lock_of(key);
        let got = match (self.mode_of(key), mode) {
            (Some(LockMode::Write), _) | (Some(LockMode::Read), LockMode::Read) => return Ok(()),
            (Some(LockMode::Read), LockMode::Write) => {
                if !lock.try_upgrade() {
                    return Err(Restart);
                }
                self.set_mode(key, LockMode::Write);
                return Ok(());
            }
            (None, LockMode::Read) => lock.try_read(),
            (None, LockMode::Write) => lock.try_write(),
        };
        if !got {
            return Err(Restart);
        }
        self.record(key, mode);
        Ok(())
    }

    /// The operation-phase rule for two objects: take them in ascending key order (the same
    /// object twice is taken once, in the stronger mode).
    pub fn lock_in_order<T: LockTable<K> + ?Sized>(
        &mut self,
        table: &T,
        a: (K, LockMode),
        b: (K, LockMode),
    ) -> Result<(), Restart> {
        if a.0 == b.0 {
            let mode = if a.1 == LockMode::Write || b.1 == LockMode::Write {
                LockMode::Write
            } else {
                LockMode::Read
            };
            return self.acquire(table, a.0, mode);
        }
        let (first, second) = if a.0 < b.0 { (a, b) } else { (b, a) };
        self.acquire(table, first.0, first.1)?;
        self.acquire(table, second.0, second.1)
    }

    /// Releases every held lock and empties the list: at kernel exit, and whenever a path is
    /// abandoned before its commit point (error, stall or restart).
    #[inline]
    pub fn release_all<T: LockTable<K> + ?Sized>(&mut self, table: &T) {
        for &(key, mode) in self.held[..self.len].iter().flatten() {
            let lock = table.lock_of(key);
            match mode {
                LockMode::Read => lock.unlock_read(),
                LockMode::Write => lock.unlock_write(),
            }
        }
        self.len = 0;
        self.top = None;
        #[cfg(debug_assertions)]
        {
            self.phase = Phase::Unnamed;
        }
        table.turn(Turn::Release);
    }

    /// Whether `key` is at or below the highest key held: only then may it be held already,
    /// and only then could spinning for it close a cycle.
    #[inline]
    fn below_top(&self, key: K) -> bool {
        self.top.is_some_and(|t| key <= t)
    }

    /// Records `key`, known to be above every held key (the common ascending case: no search).
    #[inline]
    fn push_top(&mut self, key: K, mode: LockMode) {
        self.push(key, mode);
        self.top = Some(key);
    }

    fn record(&mut self, key: K, mode: LockMode) {
        self.push(key, mode);
        if !self.below_top(key) {
            self.top = Some(key);
        }
    }

    #[inline]
    fn push(&mut self, key: K, mode: LockMode) {
        let Some(slot) = self.held.get_mut(self.len) else {
            panic!("held-lock list overflow: a kernel path took more than {N} locks (kernel bug)");
        };
        *slot = Some((key, mode));
        self.len += 1;
    }

    fn set_mode(&mut self, key: K, mode: LockMode) {
        for (k, m) in self.held[..self.len].iter_mut().flatten() {
            if *k == key {
                *m = mode;
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn table(n: usize) -> Vec<MrowLock> {
        (0..n).map(|_| MrowLock::new()).collect()
    }

    #[test]
    fn release_all_frees_every_lock() {
        let t = table(4);
        let mut h: HeldLocks<usize, 8> = HeldLocks::new();
        h.read(&t[..], 2).unwrap();
        h.write(&t[..], 3).unwrap();
        h.read(&t[..], 0).unwrap();
        assert_eq!(h.mode_of(3), Some(LockMode::Write));
        h.release_all(&t[..]);
        assert!(h.is_empty());
        assert!(t.iter().all(MrowLock::is_free));
    }

    #[test]
    fn taking_a_held_read_lock_again_is_a_no_op() {
        let t = table(1);
        let mut h: HeldLocks<usize, 4> = HeldLocks::new();
        h.read(&t[..], 0).unwrap();
        h.read(&t[..], 0).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(t[0].readers(), 1);
        h.release_all(&t[..]);
        assert!(t[0].is_free());
    }

    #[test]
    fn sole_reader_upgrades_shared_reader_restarts() {
        let t = table(1);
        let mut h: HeldLocks<usize, 4> = HeldLocks::new();
        h.read(&t[..], 0).unwrap();
        t[0].read();
        assert_eq!(h.write(&t[..], 0), Err(Restart));
        assert_eq!(h.mode_of(0), Some(LockMode::Read));
        t[0].unlock_read();
        h.write(&t[..], 0).unwrap();
        assert_eq!(h.mode_of(0), Some(LockMode::Write));
        assert!(t[0].is_write_locked());
        h.release_all(&t[..]);
        assert!(t[0].is_free());
    }

    #[test]
    fn contended_lock_below_a_held_one_restarts_instead_of_spinning() {
        let t = table(2);
        let mut h: HeldLocks<usize, 4> = HeldLocks::new();
        h.read(&t[..], 1).unwrap();
        t[0].write();
        assert_eq!(h.read(&t[..], 0), Err(Restart));
        assert_eq!(h.len(), 1);
        h.release_all(&t[..]);
        t[0].unlock_write();
        assert!(t.iter().all(MrowLock::is_free));
    }

    #[test]
    fn try_acquire_never_waits() {
        let t = table(1);
        let mut h: HeldLocks<usize, 4> = HeldLocks::new();
        t[0].read();
        assert_eq!(h.try_acquire(&t[..], 0, LockMode::Write), Err(Restart));
        h.try_acquire(&t[..], 0, LockMode::Read).unwrap();
        t[0].unlock_read();
        h.try_acquire(&t[..], 0, LockMode::Write).unwrap();
        assert!(t[0].is_write_locked());
        h.release_all(&t[..]);
        assert!(t[0].is_free());
    }

    #[test]
    fn lock_in_order_takes_ascending_keys_and_merges_duplicates() {
        let t = table(3);
        let mut h: HeldLocks<usize, 4> = HeldLocks::new();
        h.lock_in_order(&t[..], (2, LockMode::Read), (1, LockMode::Write))
            .unwrap();
        let keys: Vec<usize> = h.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![1, 2]);
        h.release_all(&t[..]);
        h.lock_in_order(&t[..], (0, LockMode::Read), (0, LockMode::Write))
            .unwrap();
        assert_eq!(h.len(), 1);
        assert!(t[0].is_write_locked());
        h.release_all(&t[..]);
        assert!(t.iter().all(MrowLock::is_free));
    }

    #[test]
    fn operate_drops_the_marshal_reads_and_keeps_the_self_lock() {
        let t = table(4);
        let mut h: HeldLocks<usize, 8> = HeldLocks::new();
        h.write(&t[..], 1).unwrap();
        h.marshal();
        // Read locks in any order: 3 is waited for, 0 (below the top) only tried.
        h.read(&t[..], 3).unwrap();
        h.read(&t[..], 0).unwrap();
        assert_eq!(h.len(), 3);
        h.operate(&t[..]);
        assert_eq!(h.entries().collect::<Vec<_>>(), vec![(1, LockMode::Write)]);
        assert!(t[0].is_free() && t[3].is_free());
        // The operation phase starts again from the self-lock: 2 is above it, so waited for.
        h.write(&t[..], 2).unwrap();
        assert_eq!(h.mode_of(2), Some(LockMode::Write));
        h.release_all(&t[..]);
        assert!(t.iter().all(MrowLock::is_free));
    }

    #[test]
    fn an_operation_lock_below_the_held_ones_is_only_tried() {
        let t = table(3);
        let mut h: HeldLocks<usize, 8> = HeldLocks::new();
        h.write(&t[..], 1).unwrap();
        h.marshal();
        h.read(&t[..], 2).unwrap();
        h.operate(&t[..]);
        t[0].read();
        assert_eq!(h.write(&t[..], 0), Err(Restart));
        t[0].unlock_read();
        h.release_all(&t[..]);
        assert!(t.iter().all(MrowLock::is_free));
    }

    /// Debug builds assert the marshal phase's rule (`cargo xtask test` runs the core tests in
    /// a debug build too).
    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "a write lock in the marshal phase")]
    fn a_write_lock_in_the_marshal_phase_is_a_bug() {
        let t = table(3);
        let mut h: HeldLocks<usize, 8> = HeldLocks::new();
        h.write(&t[..], 0).unwrap();
        h.marshal();
        h.read(&t[..], 1).unwrap();
        let _ = h.write(&t[..], 2);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "a write lock in the marshal phase")]
    fn upgrading_a_marshal_read_lock_is_a_bug() {
        let t = table(3);
        let mut h: HeldLocks<usize, 8> = HeldLocks::new();
        h.write(&t[..], 0).unwrap();
        h.marshal();
        h.read(&t[..], 1).unwrap();
        let _ = h.try_acquire(&t[..], 1, LockMode::Write);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "operation phase begun in Unnamed")]
    fn an_operation_phase_needs_a_marshal_phase_first() {
        let t = table(1);
        let mut h: HeldLocks<usize, 8> = HeldLocks::new();
        h.write(&t[..], 0).unwrap();
        h.operate(&t[..]);
    }

    #[test]
    #[should_panic(expected = "held-lock list overflow")]
    fn overflow_is_reported() {
        let t = table(3);
        let mut h: HeldLocks<usize, 2> = HeldLocks::new();
        for k in 0..3 {
            h.read(&t[..], k).unwrap();
        }
    }
}
