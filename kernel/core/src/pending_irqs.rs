//! Interrupts reach drivers as POSTs from the kernel (seed 001; DESIGN.md "Interrupts").
//!
//! At kernel exit each pending line is posted to the endpoint bound to it, with order
//! `IRQ_FIRED` and the line number as the word, through the same queue as every other POST.
//! The kernel cannot stall: if the recipient is not available and the line's one post activity
//! is still queued, the line stays pending and is tried again at the next exit. A line that fires again
//! before it is posted is posted once (a level, not a count). The interrupt of an unbound line,
//! or of one bound to a destroyed driver, is dropped (a level-triggered line then stays masked
//! until it is bound again).
//!
//! A posted line awaits its driver's ACK (`orders/irq_line.rs`) and is not posted again until
//! then: a level-triggered line was masked by `note_irq` and is unmasked by the ACK; an
//! edge-triggered line that fires meanwhile is remembered (`IrqLine::fired_again`) and made
//! pending again by the ACK.

use tessera_abi::message::{MessageInfo, MESSAGE_CAPS};
use tessera_abi::post::{PostPayload, IRQ_FIRED};
use tessera_abi::InvocationKind;

use crate::cap::{Cap, ObjId};
use crate::cpu::Cpu;
use crate::invoke::deliver::Delivery;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::memory::IrqLine;
use crate::object::process::RunState;
use crate::platform::Platform;
use crate::post::{Activity, Sender};
use crate::run_queue::Priority;
use crate::stall_queue::Owner;
use crate::sync::atomic::Ordering;
use crate::sync::Restart;
use crate::table::Guarded;

impl<P: Platform> Kernel<P> {
    /// Posts every pending IRQ line of this CPU that can be posted now. Inlined, and the
    /// posting kept out of line: most exits have nothing pending, and a plain load is cheaper
    /// than a call and the swap.
    #[inline(always)]
    pub(crate) fn post_pending_irqs(&self, cpu: &mut Cpu) {
        if self.shared(cpu.id).pending_irqs.load(Ordering::Acquire) != 0 {
            self.post_irqs(cpu);
        }
    }

    #[inline(never)]
    fn post_irqs(&self, cpu: &mut Cpu) {
        let shared = self.shared(cpu.id);
        let mut pending = shared.pending_irqs.swap(0, Ordering::AcqRel);
        while pending != 0 {
            let line = pending.trailing_zeros();
            pending &= pending - 1;
            let posted = match self.post_irq_direct(cpu, line) {
                Some(posted) => posted,
                None => self.retry(cpu, |k, cpu| k.post_irq(cpu, line)),
            };
            if !posted {
                shared.pending_irqs.fetch_or(1 << line, Ordering::AcqRel);
            }
        }
        self.run_deferred(cpu);
    }

    /// One line: `Ok(false)` if it must stay pending. The line's lock and its driver's are
    /// taken through the held-lock list.
    fn post_irq(&self, cpu: &mut Cpu, line: u32) -> Result<bool, Restart> {
        let Some(irq) = self.irqs.get(line as usize) else {
            return Ok(true);
        };
        cpu.held.write(self, LockKey::irq(line))?;
        self.post_line(cpu, line, irq, |k, cpu, t| {
            cpu.held.write(k, LockKey::process(t.index))
        })
    }

    /// `post_irq` without the held-lock list, as the syscall fast paths lock
    /// (`invoke/fastpath.rs`): the line's lock, then its driver's, each taken by one try, so no
    /// lock order is needed. `None` if either is not free at once: nothing has changed, and
    /// the general `post_irq` runs. Off with the fast paths (`Kernel::set_fast_paths`), so the
    /// simulator's seeds compare the two (`kernel/sim/tests/fastpath_equal.rs`).
    fn post_irq_direct(&self, cpu: &mut Cpu, line: u32) -> Option<bool> {
        if !self.fast_paths.load(Ordering::Relaxed) {
            return None;
        }
        let Some(irq) = self.irqs.get(line as usize) else {
            return Some(true);
        };
        let own = irq.lock();
        if !own.try_write() {
            return None;
        }
        #[cfg(feature = "planted-bugs")]
        if self.planted_is(crate::planted::PlantedBug::DirectIrqIgnoresAck) {
            irq.write(|l| l.awaiting_ack = false);
        }
        let mut driver = None;
        let posted = self.post_line(cpu, line, irq, |_, _, t| {
            let lock = self.processes.lock(t.index);
            if !lock.try_write() {
                return Err(Restart);
            }
            driver = Some(lock);
            Ok(())
        });
        if let Some(lock) = driver {
            lock.unlock_write();
        }
        own.unlock_write();
        posted.ok()
    }

    /// Line `line` (`irq`, locked): posted to its driver, or remembered for its ACK. The
    /// driver's process `t` is locked by `lock_driver` before anything changes.
    fn post_line(
        &self,
        cpu: &mut Cpu,
        line: u32,
        irq: &Guarded<IrqLine>,
        lock_driver: impl FnOnce(&Self, &mut Cpu, ObjId) -> Result<(), Restart>,
    ) -> Result<bool, Restart> {
        let Some((endpoint, awaiting)) = irq.read(|l| l.bound.map(|e| (e, l.awaiting_ack))) else {
            return Ok(true);
        };
        #[cfg(feature = "planted-bugs")]
        let awaiting = awaiting && !self.planted_is(crate::planted::PlantedBug::PostIrqBeforeAck);
        if awaiting {
            // COMMIT POINT: the line is locked and its driver has not ACKed the last POST; the
            // ACK makes the line pending again.
            irq.write(|l| l.fired_again = true);
            return Ok(true);
        }
        let payload = PostPayload {
            order: IRQ_FIRED,
            word: u64::from(line),
        };
        lock_driver(self, cpu, endpoint.obj)?;
        let posted = self.post_to_locked(cpu, endpoint, Sender::Irq(line), payload);
        // Past the POST's commit point: the line is still locked.
        if matches!(posted, KernelPost::Delivered | KernelPost::Queued) {
            irq.write(|l| l.awaiting_ack = true);
        }
        Ok(posted != KernelPost::Busy)
    }

    /// A POST from the kernel itself (an IRQ line, an alarm) to `endpoint`, from `sender`'s
    /// one activity. The kernel never stalls: a recipient that is not available gets the
    /// activity queued, unless it is still queued from last time (`Busy`: nothing changes).
    /// Takes the recipient's lock; its commit point is inside.
    pub(crate) fn post_from_kernel(
        &self,
        cpu: &mut Cpu,
        endpoint: Cap,
        sender: Sender,
        payload: PostPayload,
    ) -> Result<KernelPost, Restart> {
        cpu.held.write(self, LockKey::process(endpoint.obj.index))?;
        Ok(self.post_to_locked(cpu, endpoint, sender, payload))
    }

    /// `post_from_kernel` with the recipient locked by the caller.
    fn post_to_locked(
        &self,
        cpu: &mut Cpu,
        endpoint: Cap,
        sender: Sender,
        payload: PostPayload,
    ) -> KernelPost {
        let t = endpoint.obj;
        let Some(ready) = self.processes.read(t, |p| {
            p.state == RunState::Available
                && p.senders.is_empty()
                && p.senders.owner() == Owner::Resource
        }) else {
            return KernelPost::NoRecipient;
        };
        // The path cannot restart from here on.
        #[cfg(feature = "trace")]
        if let Sender::Irq(line) = sender {
            trace_event!(self, cpu.id, IrqPosted, t.index, u64::from(line), 0);
        }
        if ready {
            let d = Delivery {
                badge: endpoint.badge,
                info: MessageInfo::new(InvocationKind::Post, payload.order, 1, 0),
                data: [payload.word, 0, 0, 0],
                caps: [Cap::NULL; MESSAGE_CAPS],
                resume: None,
            };
            // COMMIT POINT: the recipient is locked and available.
            self.processes.write(t, |p| self.deliver(cpu, t, p, &d));
            return KernelPost::Delivered;
        }
        let Some(id) = self.posts.next_free(sender) else {
            return KernelPost::Busy;
        };
        let a = Activity {
            target: t,
            badge: endpoint.badge,
            payload,
            priority: Priority::HIGHEST,
            stamp: self.stamp(),
        };
        // COMMIT POINT: the sender's one activity is free and only this path (holding the
        // recipient, and the line or the alarm) takes it; the recipient is locked.
        if !self.posts.take(id, a) {
            return KernelPost::Busy;
        }
        self.queue_activity(t, id);
        trace_event!(
            self,
            cpu.id,
            PostQueued,
            t.index,
            u64::from(payload.order),
            u64::from(crate::trace::NO_PROCESS)
        );
        KernelPost::Queued
    }
}

/// What a POST from the kernel came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KernelPost {
    /// Delivered: the recipient was waiting.
    Delivered,
    /// Queued on the recipient's sender queue.
    Queued,
    /// The sender's activity is still queued from its previous POST: nothing was done.
    Busy,
    /// The endpoint's process is destroyed.
    NoRecipient,
}
