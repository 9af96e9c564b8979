//! Delivering a message into a process, making a process ready, and handing a process's sender
//! queue to the next in line when the process becomes available.
//!
//! # Assumptions
//! - Called in the operate phase, with the receiving process (and, for `offer`, the post pool)
//!   locked by the path. Nothing here fails.
//! - Processes not locked by the path are never touched: their wake-up is deferred
//!   (`defer_wake`) and done at kernel exit by `wake.rs`.

use tessera_abi::message::{
    CapWord, MessageInfo, Reply, DATA_WORDS, MESSAGE_CAPS, RESUME_RECV_SLOT,
};
use tessera_abi::InvocationKind;

use crate::cap::{Cap, ObjId};
use crate::cpu::{Cpu, Deferred, Wake, IDLE};
use crate::kernel::Kernel;
use crate::object::process::{Process, QueueRef, RunState, Staller, Waiter};
use crate::platform::{Platform, SaveArea};
use crate::post::PostId;
use crate::run_queue::{Position, Priority};
use crate::sync::atomic::Ordering;
use crate::sync::CpuId;

/// A message as the receiver gets it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delivery {
    pub badge: u64,
    pub info: MessageInfo,
    pub data: [u64; DATA_WORDS],
    pub caps: [Cap; MESSAGE_CAPS],
    pub resume: Option<Cap>,
}

impl<P: Platform> Kernel<P> {
    /// Writes `d` into `t` (in an open or closed wait) and makes it ready.
    pub(crate) fn deliver(&self, cpu: &Cpu, t_id: ObjId, t: &mut Process, d: &Delivery) {
        self.write_message(cpu.id, t_id, t, d);
        trace_event!(
            self,
            cpu.id,
            Delivered,
            t_id.index,
            d.info.pack(),
            u64::from(d.resume.map_or(crate::trace::NO_PROCESS, |r| r.obj.index))
        );
        self.make_ready(cpu, t_id, t, Position::Tail);
    }

    /// Writes `d` into `t`'s receive slots and reply registers; its state is the caller's. A
    /// reply to a fault message writes nothing: the registers are the ones its keeper left
    /// (`keeper.rs`).
    pub(crate) fn write_message(&self, cpu: CpuId, t_id: ObjId, t: &mut Process, d: &Delivery) {
        if t.fault.take().is_some() {
            return;
        }
        self.with_regs(cpu, t_id, t, |t, regs| {
            let recv = CapWord::unpack(regs.invocation().caps).recv;
            for (slot, cap) in recv.iter().zip(d.caps.iter()).take(d.info.caps as usize) {
                t.receive_cap(*slot, *cap);
            }
            let mut info = d.info;
            if let Some(r) = d.resume {
                t.receive_cap(recv[RESUME_RECV_SLOT], r);
                info.resume = true;
            }
            regs.set_reply(&Reply {
                error: 0,
                badge: d.badge,
                info: info.pack(),
                data: d.data,
            });
        });
    }

    /// `p` is running again: it joins its home CPU's run queue (unless it is still current on
    /// a CPU that has not left the kernel), and preempts that CPU at its next exit if it has a
    /// higher priority than what runs there.
    pub(crate) fn make_ready(&self, cpu: &Cpu, id: ObjId, p: &mut Process, at: Position) {
        let priority = p.priority;
        self.make_ready_at(cpu, id, p, at, priority);
    }

    /// `make_ready`, queued at `priority` (at least its own) for this one wait.
    pub(crate) fn make_ready_at(
        &self,
        cpu: &Cpu,
        id: ObjId,
        p: &mut Process,
        at: Position,
        priority: Priority,
    ) {
        p.state = RunState::Running;
        if p.cpu.is_some() || p.queued_on.is_some() {
            return;
        }
        let home = p.home;
        let shared = self.shared(home);
        let pinned = p.affinity.is_some();
        if let Err(e) = shared.run.lock().enqueue_pinned(id, priority, at, pinned) {
            panic!("run queue refused a ready process: {e:?} (kernel bug)");
        }
        p.queued_on = Some(home);
        let running = shared.running_priority.load(Ordering::Acquire);
        if running == IDLE || u32::from(priority.get()) > running {
            self.interrupt(cpu, home);
        } else if let Some(idle) = self.idle_cpu(home).filter(|_| !pinned) {
            // Its home is busy with something at least as urgent: an idle CPU steals it now
            // rather than at its next timer tick (a pinned process waits for its own CPU).
            self.interrupt(cpu, idle);
        }
    }

    /// Asks CPU `c` to reschedule, interrupting it if it is not this one.
    pub(crate) fn interrupt(&self, cpu: &Cpu, c: CpuId) {
        self.shared(c).request_resched();
        if c != cpu.id {
            self.platform.send_ipi(c);
        }
    }

    /// A CPU other than `but` running nothing, if any.
    pub(crate) fn idle_cpu(&self, but: CpuId) -> Option<CpuId> {
        if self.cpu_count() == 1 {
            return None;
        }
        self.cpu_ids()
            .find(|&c| c != but && self.shared(c).running_priority.load(Ordering::Acquire) == IDLE)
    }

    /// `t` is available: if nobody owns its sender queue, the head becomes owner. A process is
    /// woken (deferred) to re-run its call; a post activity is made ready (`post_run.rs`).
    pub(crate) fn offer(&self, cpu: &mut Cpu, t_id: ObjId, t: &mut Process) {
        if t.state != RunState::Available {
            return;
        }
        self.fire_watchers(cpu, t_id, t);
        #[cfg(feature = "planted-bugs")]
        if self.planted_offer(cpu, t_id, t) {
            return;
        }
        match t.senders.wake_one(&self.stall_nodes) {
            None => {}
            Some(Waiter::Process(s)) => {
                trace_event!(
                    self,
                    cpu.id,
                    OwnerPassed,
                    t_id.index,
                    u64::from(s.id.index),
                    0
                );
                #[cfg(feature = "planted-bugs")]
                self.planted_woken(t, s);
                // The queue is reserved for its new owner until it runs: queued below a
                // spinner, a low-priority owner would hold off every caller of `t` for good.
                // It runs at least at `t`'s priority until then (the immediate priority
                // ceiling of the reserved resource).
                self.defer_wake_at(cpu, s, QueueRef::Senders(t_id), t.priority);
            }
            Some(Waiter::Post(i)) => {
                trace_event!(
                    self,
                    cpu.id,
                    OwnerPassed,
                    t_id.index,
                    u64::from(crate::trace::NO_PROCESS),
                    0
                );
                // It runs at its sender's priority, as a process would (`post_run.rs`).
                self.post_owns(cpu, t_id, t, i);
            }
        }
    }

    /// Queues post activity `id`, just taken, on the sender queue of `t`, which the path has
    /// locked. It cannot fail there: a failure is a kernel bug and panics.
    pub(crate) fn queue_activity(&self, t: ObjId, id: PostId) {
        let queued = self
            .processes
            .write(t, |p| p.senders.stall(&self.stall_nodes, Waiter::Post(id)));
        if queued != Some(Ok(())) {
            panic!("{id:?} cannot queue on its locked recipient {t:?}: {queued:?} (kernel bug)");
        }
    }

    /// Delivers post activity `i` to `t` and frees it; its sender, if it waits for its
    /// allotment, is woken, and a notification request watching that allotment fires.
    pub(crate) fn deliver_post(&self, cpu: &mut Cpu, t_id: ObjId, t: &mut Process, i: PostId) {
        let Some((a, sender)) = self.posts.release(i) else {
            panic!("post activity {i:?} queued but free (kernel bug)");
        };
        let d = Delivery {
            badge: a.badge,
            info: MessageInfo::new(InvocationKind::Post, a.payload.order, 1, 0),
            data: [a.payload.word, 0, 0, 0],
            caps: [Cap::NULL; MESSAGE_CAPS],
            resume: None,
        };
        #[cfg(feature = "planted-bugs")]
        let lost = self.planted_is(crate::planted::PlantedBug::LosePost);
        #[cfg(not(feature = "planted-bugs"))]
        let lost = false;
        if !lost {
            self.deliver(cpu, t_id, t, &d);
        }
        if let Some(w) = sender {
            self.defer_wake(cpu, w, QueueRef::PostPool);
        }
        if let Some(r) = self.posts.take_watch(i) {
            cpu.deferred.push_back(Deferred::Fire(r));
        }
    }

    /// `who` left queue `from` (as its new owner, or because the queue died): make it ready at
    /// kernel exit if it is still stalled there.
    pub(crate) fn defer_wake(&self, cpu: &mut Cpu, who: Staller, from: QueueRef) {
        self.defer_wake_at(cpu, who, from, Priority::LOWEST);
    }

    /// `defer_wake`, made ready at `boost` if that is above its own priority.
    pub(crate) fn defer_wake_at(
        &self,
        cpu: &mut Cpu,
        who: Staller,
        from: QueueRef,
        boost: Priority,
    ) {
        cpu.deferred
            .push_back(Deferred::Wake(Wake { who, from, boost }));
    }
}
