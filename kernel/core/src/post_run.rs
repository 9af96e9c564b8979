//! Post activities run like processes (seed 003): "an undelivered POST is in fact a special
//! form of running process".
//!
//! A POST whose recipient is not available waits on the recipient's sender queue (`post.rs`).
//! When the recipient becomes available and the activity is at the head, it becomes the
//! queue's owner, as a woken process does, and is made ready: it joins the post run queue of
//! the recipient's home CPU at its sender's priority (`PerCpu::posts`). When that CPU picks it
//! (it competes with the processes by priority, and wins ties: it is a few hundred
//! instructions of kernel work), it delivers itself under the recipient's lock, or, if the
//! recipient is no longer available (halted meanwhile), goes back to the head of its queue. So
//! a high-priority sender's POST is delivered before a lower-priority process runs, and a
//! low-priority sender's POST does not take a CPU from more urgent work.
//!
//! Refinements of the seed, and why:
//! - No PostContext is filled in and run through the SEND path: the activity already holds
//!   the whole message and its recipient is known, so running it is the delivery step alone.
//! - Where the recipient makes itself available on its own CPU (its RETURN) and the activity
//!   outranks everything ready on that CPU, the scheduler would pick it next: it is delivered
//!   there and then (`post_owns`), with the same outcome and no trip through the run queue.
//!   This keeps a driver's RETURN that takes a queued IRQ POST as cheap as before.
//! - A ready activity owns its recipient's queue, so its wait for a CPU is bounded like a
//!   woken process's (`dispatch.rs`, "Reservations"), but it cannot lose its place and stay
//!   ready (a later POST of the same sender could then overtake it): one that waited a full
//!   quantum is delivered by the CPU it waits on, at that CPU's next exit.
//!
//! # Invariants (checked by `Kernel::check_invariants`)
//! - An activity is in a post run queue only while it owns its recipient's sender queue, and
//!   in at most one; an owning activity is in one, or is being run by the CPU that picked it.
//! - Exactly once and in order (`post.rs`): an activity leaves its recipient's queue only as
//!   its owner, and only the owner is delivered; delivery frees it.
//!
//! # Locks
//! A post run queue is a leaf lock (level 7, like the run queue), always taken just after its
//! CPU's process run queue: every change to it is published there (`publish_posts`), so the
//! process queue's `highest` (the fast path's bar, preemption) counts ready activities.

use crate::cap::ObjId;
use crate::cpu::{Cpu, PerCpu, IDLE};
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{Process, RunState, Waiter};
use crate::platform::Platform;
use crate::post::PostId;
use crate::run_queue::{Position, Priority, RunQueue, DEFAULT_QUANTUM_TICKS};
use crate::stall_queue::Owner;
use crate::sync::atomic::Ordering;
use crate::sync::{CpuId, Restart};

impl<P: Platform> Kernel<P> {
    /// Activity `i` has just become the owner of `t`'s sender queue (`t` locked, available):
    /// deliver it at once if this CPU would run it next anyway, else make it ready.
    #[cold]
    pub(crate) fn post_owns(&self, cpu: &mut Cpu, t_id: ObjId, t: &mut Process, i: PostId) {
        let Some(priority) = self.posts.get(i).map(|a| a.priority) else {
            panic!("post activity {i:?} owns a queue but is free (kernel bug)");
        };
        if cpu.current == Some(t_id) && self.runs_next_here(cpu.id, priority) {
            self.deliver_post(cpu, t_id, t, i);
            t.senders.used(&self.stall_nodes, Waiter::Post(i), false);
            return;
        }
        self.make_post_ready(cpu, t.home, i, priority);
    }

    /// Whether an activity of `priority` made ready on `c` would be the next thing `c` runs:
    /// no process there is ready above its priority (an activity wins a tie: `pick_own_post`), and
    /// no other activity at or above it.
    fn runs_next_here(&self, c: CpuId, priority: Priority) -> bool {
        // The ready word settles the common case without the lock: nothing ready as high.
        if self.shared(c).run.highest().is_none_or(|p| p < priority) {
            return true;
        }
        let run = self.shared(c).run.lock();
        run.highest_queued().is_none_or(|p| priority >= p)
            && Priority::highest_of(run.post_levels()).is_none_or(|p| priority > p)
    }

    /// After a change to CPU `shared`'s post run queue `q` (locked after `run`, its process run
    /// queue): `run.highest` and `ready_posts` say what is ready there now.
    pub(crate) fn publish_posts(shared: &PerCpu, run: &mut RunQueue<ObjId>, q: &RunQueue<PostId>) {
        run.set_post_levels(q.levels());
        shared.ready_posts.store(q.len() as u32, Ordering::Release);
    }

    /// Queues activity `i` on CPU `c`'s post run queue at `priority`, interrupting a CPU to run
    /// it as `make_ready_at` does for a process.
    fn make_post_ready(&self, cpu: &Cpu, c: CpuId, i: PostId, priority: Priority) {
        let shared = self.shared(c);
        {
            let mut run = shared.run.lock();
            let mut q = shared.posts.lock();
            if let Err(e) = q.enqueue(i, priority, Position::Tail) {
                panic!("post run queue refused {i:?}: {e:?} (kernel bug)");
            }
            let now = shared.ticks.load(Ordering::Relaxed);
            q.reserve(i, now);
            shared
                .reserved_until
                .fetch_min(now + u64::from(DEFAULT_QUANTUM_TICKS), Ordering::AcqRel);
            Self::publish_posts(shared, &mut run, &q);
        }
        let running = shared.running_priority.load(Ordering::Acquire);
        if running == IDLE || u32::from(priority.get()) > running {
            self.interrupt(cpu, c);
        } else if let Some(idle) = self.idle_cpu(c) {
            self.interrupt(cpu, idle);
        }
    }

    /// Takes activity `i` off every post run queue (its recipient is destroyed).
    pub(crate) fn unready_post(&self, i: PostId) {
        for c in self.cpu_ids() {
            let shared = self.shared(c);
            let mut run = shared.run.lock();
            let mut q = shared.posts.lock();
            if q.remove(i).is_some() {
                Self::publish_posts(shared, &mut run, &q);
                return;
            }
        }
    }

    /// The best activity ready on this CPU if its priority is at least that of the best
    /// process here (an activity wins a tie), taken off its queue.
    #[inline(never)]
    pub(crate) fn pick_own_post(&self, cpu: &Cpu) -> Option<PostId> {
        let shared = self.shared(cpu.id);
        let mut run = shared.run.lock();
        let mut q = shared.posts.lock();
        let process = run.highest_queued();
        let outranked = q.highest().is_none_or(|p| process.is_some_and(|o| p < o));
        if outranked {
            return None;
        }
        let taken = q.pick().map(|(i, _)| i);
        Self::publish_posts(shared, &mut run, &q);
        taken
    }

    /// For a CPU with nothing to run: an activity ready on another CPU, taken off its queue.
    /// Another CPU's queues are only tried, not waited for (as `pick` does). Kept out of line,
    /// like the rest of this file's work, so that the scheduler's common path stays small.
    #[cold]
    #[inline(never)]
    pub(crate) fn steal_post(&self, cpu: &Cpu) -> Option<PostId> {
        if self.cpus.len() == 1 {
            return None;
        }
        self.cpu_ids().filter(|&c| c != cpu.id).find_map(|c| {
            let other = self.shared(c);
            if other.ready_posts.load(Ordering::Acquire) == 0 {
                return None;
            }
            let mut run = other.run.try_lock()?;
            let mut q = other.posts.try_lock()?;
            let taken = q.pick().map(|(i, _)| i);
            Self::publish_posts(other, &mut run, &q);
            taken
        })
    }

    /// `run_post` until it gets through.
    #[inline(never)]
    pub(crate) fn run_post_now(&self, cpu: &mut Cpu, i: PostId) {
        self.retry(cpu, |k, cpu| k.run_post(cpu, i));
    }

    /// Runs activity `i`, taken off a post run queue: it delivers itself if it still owns its
    /// recipient's queue and the recipient is available, or goes back to the head of the queue
    /// if the recipient is not. One freed meanwhile (its recipient destroyed), or taken again
    /// since for another POST that waits in a queue, is no longer this run's business.
    pub(crate) fn run_post(&self, cpu: &mut Cpu, i: PostId) -> Result<(), Restart> {
        let Some(a) = self.posts.get(i) else {
            return Ok(());
        };
        cpu.held.write(self, LockKey::process(a.target.index))?;
        // COMMIT POINT: one lock; the recipient's queue says whether `i` still owns it.
        self.processes.write(a.target, |t| {
            if t.senders.owner() != Owner::Process(Waiter::Post(i)) {
                return;
            }
            if t.state == RunState::Available {
                self.deliver_post(cpu, a.target, t, i);
                t.senders.used(&self.stall_nodes, Waiter::Post(i), false);
            } else if let Err(e) = t.senders.stall(&self.stall_nodes, Waiter::Post(i)) {
                panic!("{i:?} cannot go back to its recipient's queue: {e:?} (kernel bug)");
            }
        });
        Ok(())
    }
}
