//! Deferred wake-ups, run at kernel exit (DESIGN.md "Exit: run deferred work").
//!
//! A path that hands a stall queue to its next waiter, or destroys a process others wait on,
//! does not lock those waiters: it records them on its CPU's deferred list. Here each is
//! locked alone and made ready (KernStall: its call re-runs) if it still waits where it was:
//! same queue, same stall (`Staller::seq`). Otherwise it has moved on (halted, destroyed,
//! woken already) and the record is dropped.

use crate::cpu::{Cpu, Wake};
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{QueueRef, RunState};
use crate::platform::Platform;
use crate::sched::Position;
use crate::sync::atomic::spin_loop;
use crate::sync::Restart;

impl<P: Platform> Kernel<P> {
    /// Runs every deferred wake-up of this CPU, in order.
    pub(crate) fn run_deferred(&self, cpu: &mut Cpu) {
        while let Some(w) = cpu.deferred.pop_front() {
            loop {
                let done = self.wake_deferred(cpu, w);
                cpu.held.release_all(self);
                if done.is_ok() {
                    break;
                }
                spin_loop();
            }
        }
    }

    fn wake_deferred(&self, cpu: &mut Cpu, w: Wake) -> Result<(), Restart> {
        cpu.held.write(self, LockKey::process(w.who.id.index))?;
        // COMMIT POINT: one lock, and the check below decides everything.
        self.processes.write(w.who.id, |p| {
            if p.state == RunState::Stalled(w.from) && p.stall_seq == w.who.seq {
                p.restart = true;
                // A woken sender owns the queue it left; the pool has nothing to own (`post.rs`).
                if let QueueRef::Senders(_) = w.from {
                    p.owns = Some(w.from);
                }
                trace_event!(self, cpu.id, Wake, w.who.id.index, 0, 0);
                let at = p.priority.max(w.boost);
                self.make_ready_at(cpu, w.who.id, p, Position::Tail, at);
            }
        });
        Ok(())
    }
}
