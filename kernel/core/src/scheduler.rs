//! The scheduling policy, run at every kernel exit.
//!
//! Policy: fixed priorities with round robin inside a level (the run queue of `run_queue.rs`), one
//! run queue per CPU, a quantum of `DEFAULT_QUANTUM_TICKS` timer ticks, and needResched.
//! Preemption happens only at kernel exit: a woken process of higher priority than the one
//! running on its CPU sets that CPU's needResched (and interrupts it if remote). An idle CPU
//! steals the best process from another CPU's queue that is not pinned there.
//! A process with an affinity runs only on that CPU: it is queued only there (its `home` is
//! its affinity), never stolen, and one found running elsewhere (its affinity just changed)
//! is moved at that CPU's exit.
//!
//! # Reservations (seed 002, refined)
//! A process woken from the head of a sender queue owns it: the receiver is reserved for it
//! until it re-runs its call (`wake.rs`). Seed 002 bounds that: an owner entering the kernel
//! because its quantum expired passes ownership on. Here a woken owner does not run user code
//! before its call re-runs (KernStall), so its quantum cannot expire while it owns; what can
//! happen is that it never gets a CPU, queued below a spinner of higher priority (its home
//! CPU pinned, or every CPU busy). So the bound is put where the owner waits: an owner that has
//! sat on its run queue for `DEFAULT_QUANTUM_TICKS` of its CPU's timer ticks (one full
//! quantum, the seed's cost) loses the reservation at that CPU's next exit, and the queue
//! passes to the next in line (`end_stale_reservations`). It stays ready, and its re-run
//! stalls again at the tail like any newcomer. A queued owner is marked in its run queue
//! (`RunQueue::reserve`); `PerCpu::reserved_until` is the tick the oldest mark runs out at,
//! so the timer and the exit look at one word, and only a CPU with an owner waiting ever walks
//! its marks.
//!
//! # Invariants
//! - A process with `restart` set (KernStall) never returns to user mode before its saved
//!   invocation has been re-run (seed 002).
//! - A process is current on at most one CPU; it joins a run queue only when it is current on
//!   none.

use crate::cap::ObjId;
use crate::cpu::{Cpu, IDLE};
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{Process, RunState};
use crate::platform::Platform;
use crate::post::PostId;
use crate::run_queue::{Position, Priority, DEFAULT_QUANTUM_TICKS};
use crate::sync::atomic::Ordering;
use crate::sync::{CpuId, Restart};

/// Where the arch goes after the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Return to user mode in `process`, whose registers are in its save area, running
    /// in address space `space` (none if it has no live one).
    User {
        /// The process.
        process: ObjId,
        /// Its address space.
        space: Option<ObjId>,
    },
    /// Nothing to run: halt until an interrupt.
    Idle,
}

/// What `pick` chose to run next.
enum Next {
    /// A ready process, taken off its run queue.
    Process(ObjId),
    /// A ready post activity, taken off its queue.
    Post(PostId),
}

/// What to do with the current process at exit.
enum Verdict {
    /// Return to it, in this address space.
    Keep(Option<ObjId>),
    Rerun,
    Drop,
}

impl<P: Platform> Kernel<P> {
    /// Whether the planted bug `StealPinned` is in: never without the feature.
    #[cfg(not(feature = "planted-bugs"))]
    #[inline(always)]
    fn ignores_affinity(&self) -> bool {
        false
    }

    pub(crate) fn schedule(&self, cpu: &mut Cpu) -> Exit {
        let shared = self.shared(cpu.id);
        if shared.ticks.load(Ordering::Relaxed) >= shared.reserved_until.load(Ordering::Acquire) {
            self.end_stale_reservations(cpu);
        }
        let mut picked = None;
        loop {
            self.run_deferred(cpu);
            let verdict = match picked.take() {
                Some(next) => self.dispatch(cpu, next),
                None => cpu.current.map(|cur| self.verdict(cpu, cur)),
            };
            if let (Some(cur), Some(v)) = (cpu.current, verdict) {
                match v {
                    Verdict::Keep(space) => {
                        return Exit::User {
                            process: cur,
                            space,
                        };
                    }
                    Verdict::Rerun => {
                        // Whoever is current now gets its verdict on the next turn.
                        self.invoke(cpu, cur);
                        continue;
                    }
                    Verdict::Drop => {
                        cpu.current = None;
                        shared.running_priority.store(IDLE, Ordering::Release);
                    }
                }
            }
            // Nobody is current here: the pick answers every reschedule request made so far
            // (each follows its enqueue), so only one made after it may preempt what it picks.
            shared.take_resched();
            match self.pick(cpu) {
                Some(Next::Process(next)) => picked = Some(next),
                Some(Next::Post(i)) => self.run_post_now(cpu, i),
                None => {
                    // A post activity ready on another CPU runs here only when there is
                    // nothing else (`post_run.rs`).
                    if let Some(i) = self.steal_post(cpu) {
                        self.run_post_now(cpu, i);
                        continue;
                    }
                    // A process that just left this CPU may have had waiters to wake first.
                    if cpu.deferred.is_empty() {
                        return Exit::Idle;
                    }
                }
            }
        }
    }

    /// Every owner queued here for a full quantum loses its reservation, and every post
    /// activity that waited here as long is delivered now (see "Reservations"). The last step
    /// holds the run queue's lock and then the post run queue's, the one place both are held,
    /// so no mark made meanwhile is missed by the new `reserved_until`.
    #[cold]
    #[inline(never)]
    fn end_stale_reservations(&self, cpu: &mut Cpu) {
        let shared = self.shared(cpu.id);
        let now = shared.ticks.load(Ordering::Relaxed);
        let quantum = u64::from(DEFAULT_QUANTUM_TICKS);
        let before = (now + 1).saturating_sub(quantum);
        loop {
            let owner = shared.run.lock().take_reservation_older_than(before);
            if let Some(owner) = owner {
                #[cfg(feature = "planted-bugs")]
                if self.planted_is(crate::planted::PlantedBug::UnboundedOwnership) {
                    continue;
                }
                self.retry(cpu, |k, cpu| k.end_reservation(cpu, owner));
                continue;
            }
            let post = {
                let mut run = shared.run.lock();
                let mut posts = shared.posts.lock();
                let post = posts.take_reservation_older_than(before);
                if let Some(i) = post {
                    posts.remove(i);
                    Self::publish_posts(shared, &mut run, &posts);
                }
                post
            };
            if let Some(i) = post {
                self.run_post_now(cpu, i);
                continue;
            }
            let run = shared.run.lock();
            let posts = shared.posts.lock();
            let oldest = match (run.oldest_reservation(), posts.oldest_reservation()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let until = oldest.map_or(u64::MAX, |at| at + quantum);
            shared.reserved_until.store(until, Ordering::Release);
            return;
        }
    }

    /// `owner`, ready but not yet run since it was woken as a queue's owner, gives the queue
    /// to the next in line; its call re-runs when it gets a CPU, as a newcomer's.
    fn end_reservation(&self, cpu: &mut Cpu, owner: ObjId) -> Result<(), Restart> {
        cpu.held.write(self, LockKey::process(owner.index))?;
        let Some(Some((q, who))) = self.processes.read(owner, |p| {
            let waiting = p.state == RunState::Running && p.restart && p.cpu.is_none();
            p.owns.filter(|_| waiting).map(|q| (q, p.staller(owner)))
        }) else {
            return Ok(());
        };
        self.lock_queue_holder(cpu, q)?;
        // COMMIT POINT: the owner and the queue's holder are locked; passing the queue on
        // cannot fail, and the next owner's wake-up is deferred.
        self.processes.write(owner, |p| p.owns = None);
        self.relinquish(cpu, q, who);
        Ok(())
    }

    /// Decides, under its lock, whether the current process goes on.
    fn verdict(&self, cpu: &mut Cpu, cur: ObjId) -> Verdict {
        let resched = self.shared(cpu.id).take_resched();
        loop {
            let expired = self.shared(cpu.id).ticks_left.load(Ordering::Relaxed) == 0;
            let r: Result<Verdict, Restart> = (|| {
                cpu.held.write(self, LockKey::process(cur.index))?;
                // COMMIT POINT: one lock; the process's state decides the rest.
                Ok(self
                    .processes
                    .write(cur, |p| self.decide(cpu, cur, p, resched, expired))
                    .unwrap_or(Verdict::Drop))
            })();
            cpu.held.release_all(self);
            if let Ok(v) = r {
                return v;
            }
        }
    }

    /// The verdict on `p`, current here: re-run its stalled call, return to it (its registers
    /// are in its save area), or drop it (requeued if it was preempted while running). Inlined:
    /// it is on every switch, and a call costs a save and restore of every register it uses.
    #[inline(always)]
    fn decide(
        &self,
        cpu: &mut Cpu,
        cur: ObjId,
        p: &mut Process,
        resched: bool,
        expired: bool,
    ) -> Verdict {
        match p.state {
            RunState::Running if p.restart => {
                p.restart = false;
                cpu.running_call = Some((cur, p.halts, p.fault.is_some()));
                Verdict::Rerun
            }
            RunState::Running if !resched && (p.may_run_on(cpu.id) || self.ignores_affinity()) => {
                Verdict::Keep(self.live_space(p))
            }
            RunState::Running => {
                self.requeue(cpu, cur, p, expired);
                Verdict::Drop
            }
            _ => {
                self.left_cpu(cpu, cur, p);
                Verdict::Drop
            }
        }
    }

    /// `p` (process `cur`, current here and running) leaves this CPU for its run queue: at
    /// the tail of its level if its quantum is spent, else at the head (it was preempted).
    pub(crate) fn requeue(&self, cpu: &mut Cpu, cur: ObjId, p: &mut Process, expired: bool) {
        self.left_cpu(cpu, cur, p);
        p.home = p.affinity.unwrap_or(cpu.id);
        let at = if expired {
            Position::Tail
        } else {
            Position::Head
        };
        self.make_ready(cpu, cur, p, at);
    }

    /// The current process `cur` (`p`, locked, running) gave up its quantum (YIELD) and the
    /// exit has nothing else to do (`exit_only_schedules`): the verdict `schedule` would give
    /// it, at once. It is requeued at the tail of its level and is no longer current here;
    /// the reschedule request is taken, as `verdict` takes it.
    pub(crate) fn yield_here(&self, cpu: &mut Cpu, cur: ObjId, p: &mut Process) {
        let shared = self.shared(cpu.id);
        shared.take_resched();
        self.requeue(cpu, cur, p, true);
        cpu.current = None;
        shared.running_priority.store(IDLE, Ordering::Release);
    }

    /// Whether a kernel exit from here would only schedule: no deferred wake-up, no pending
    /// IRQ, no alarm due and no reservation run out (a reschedule request may be pending).
    pub(crate) fn exit_only_schedules(&self, cpu: &Cpu) -> bool {
        let shared = self.shared(cpu.id);
        cpu.deferred.is_empty()
            && shared.pending_irqs.load(Ordering::Acquire) == 0
            && !self.alarm_due(cpu.id)
            && shared.ticks.load(Ordering::Relaxed) < shared.reserved_until.load(Ordering::Acquire)
    }

    /// The exit after a fast path whose caller stopped running here (it waits in the open, or
    /// yielded: nobody is current), done at once when `schedule` could only dispatch the
    /// head of this CPU's own run queue: the exit has nothing else to do, no reschedule is
    /// asked, no post activity is ready here, no other CPU has anyone ready above that head,
    /// and the head is still ready, free to lock and due no re-run. `None` (nothing changed)
    /// otherwise, and the general exit runs.
    ///
    /// Lock order as `dispatch`: the head's process lock (one try), then the run queue's,
    /// under which the head is checked again and taken. COMMIT POINT: the head taken off the
    /// queue, under both locks; it becomes current here as `dispatch` makes it.
    #[inline(never)]
    pub(crate) fn run_next_here(&self, cpu: &mut Cpu) -> Option<Exit> {
        let shared = self.shared(cpu.id);
        if cpu.current.is_some()
            || shared.need_resched.load(Ordering::Acquire)
            || !self.exit_only_schedules(cpu)
        {
            return None;
        }
        let (next, top) = {
            let run = shared.run.lock();
            if run.post_levels() != 0 {
                return None;
            }
            run.head()?
        };
        // Another CPU's queue is looked at without its lock, as `pick` only tries it: anyone
        // above the head there may be `pick`'s choice, and the general path decides. (This
        // CPU's own word is looked at too: above the head only if someone came meanwhile.)
        if self.cpus.len() > 1
            && self
                .cpus
                .iter()
                .any(|other| other.run.highest().is_some_and(|h| h > top))
        {
            return None;
        }
        let lock = self.processes.lock(next.index);
        if !lock.try_write() {
            return None;
        }
        let here = cpu.id;
        let space = self
            .processes
            .write(next, move |p| {
                let ready = p.queued_on == Some(here)
                    && p.state == RunState::Running
                    && p.cpu.is_none()
                    && !p.restart
                    && p.may_run_on(here);
                if !ready {
                    return None;
                }
                {
                    let mut run = shared.run.lock();
                    if run.post_levels() != 0 || run.head() != Some((next, top)) {
                        return None;
                    }
                    // COMMIT POINT (see above).
                    run.pick();
                }
                p.queued_on = None;
                self.become_current(here, p);
                Some(self.live_space(p))
            })
            .flatten();
        lock.unlock_write();
        let space = space?;
        cpu.current = Some(next);
        Some(Exit::User {
            process: next,
            space,
        })
    }

    /// The best ready process this CPU can see: the head of the highest level among its own
    /// queue and what the other CPUs' queues let go (not their pinned processes), its own
    /// winning ties (its caches are warm). Another CPU's queue is only tried, not waited for:
    /// one busy at this moment is passed over, so looking never makes a CPU wait on another.
    /// A post activity ready here at least as urgent as every process here comes first
    /// (`post_run.rs`); the run queue says whether there is one (`RunQueue::post_levels`), so
    /// looking costs nothing while none is.
    fn pick(&self, cpu: &Cpu) -> Option<Next> {
        if self.cpus.len() == 1 {
            let mut own = self.shared(cpu.id).run.lock();
            if own.post_levels() == 0 {
                return own.pick().map(|(id, _)| Next::Process(id));
            }
            drop(own);
            if let Some(i) = self.pick_own_post(cpu) {
                return Some(Next::Post(i));
            }
            let taken = self.shared(cpu.id).run.lock().pick();
            return taken.map(|(id, _)| Next::Process(id));
        }
        let steal_pinned = self.ignores_affinity();
        let mut other: Option<(Priority, CpuId)> = None;
        for c in self.cpu_ids().filter(|&c| c != cpu.id) {
            let seen = self.shared(c).run.try_lock().and_then(|q| {
                if steal_pinned {
                    q.highest()
                } else {
                    q.highest_stealable()
                }
            });
            if let Some(p) = seen.filter(|&p| other.is_none_or(|(b, _)| p > b)) {
                other = Some((p, c));
            }
        }
        let mut own = self.shared(cpu.id).run.lock();
        if own.post_levels() != 0 {
            drop(own);
            if let Some(i) = self.pick_own_post(cpu) {
                return Some(Next::Post(i));
            }
            own = self.shared(cpu.id).run.lock();
        }
        let taken = match other {
            Some((p, c)) if own.highest_queued().is_none_or(|o| p > o) => {
                drop(own);
                let mut q = self.shared(c).run.lock();
                if steal_pinned {
                    q.pick()
                } else {
                    q.steal()
                }
            }
            _ => own.pick(),
        };
        taken.map(|(id, _)| Next::Process(id))
    }

    /// `p` is now current on `cpu` (its home from now on) with a fresh quantum; the caller
    /// holds its lock. Shared by `dispatch` and the fast path, so both switch alike.
    #[inline]
    pub(crate) fn become_current(&self, cpu: CpuId, p: &mut Process) {
        p.cpu = Some(cpu);
        p.home = p.affinity.unwrap_or(cpu);
        let shared = self.shared(cpu);
        shared
            .running_priority
            .store(u32::from(p.priority.get()), Ordering::Release);
        shared
            .ticks_left
            .store(DEFAULT_QUANTUM_TICKS, Ordering::Relaxed);
    }

    /// Makes `next` (just taken off a run queue) current here if it is still ready, and gives
    /// the verdict on it under the same lock; `None` if it was no longer ready.
    fn dispatch(&self, cpu: &mut Cpu, next: ObjId) -> Option<Verdict> {
        let shared = self.shared(cpu.id);
        let resched = shared.take_resched();
        loop {
            let r: Result<Option<Verdict>, Restart> = (|| {
                cpu.held.write(self, LockKey::process(next.index))?;
                // COMMIT POINT: one lock; a process no longer ready is skipped.
                Ok(self
                    .processes
                    .write(next, |p| {
                        // `pick` took it off a queue before this lock; if another CPU halted
                        // and resumed it meanwhile, it is queued again (and `queued_on` says
                        // where): it stays there to be picked in turn, not run here too.
                        #[cfg(feature = "planted-bugs")]
                        let planted = self.planted_is(crate::planted::PlantedBug::DispatchRace);
                        #[cfg(not(feature = "planted-bugs"))]
                        let planted = false;
                        if let (Some(c), false) = (p.queued_on, planted) {
                            if self.shared(c).run.lock().priority_of(next).is_some() {
                                return None;
                            }
                        }
                        p.queued_on = None;
                        if p.state != RunState::Running || p.cpu.is_some() {
                            return None;
                        }
                        if !p.may_run_on(cpu.id) && !self.ignores_affinity() {
                            // Pinned elsewhere after `pick` took it: back to its own CPU.
                            self.make_ready(cpu, next, p, Position::Head);
                            return None;
                        }
                        self.become_current(cpu.id, p);
                        Some(self.decide(cpu, next, p, resched, false))
                    })
                    .flatten())
            })();
            cpu.held.release_all(self);
            match r {
                Ok(Some(v)) => {
                    cpu.current = Some(next);
                    return Some(v);
                }
                Ok(None) => {
                    if resched {
                        shared.request_resched();
                    }
                    return None;
                }
                Err(Restart) => {}
            }
        }
    }
}
