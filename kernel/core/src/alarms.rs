//! Alarms fire at kernel exit (seed 001: expired alarms are deferred work, like pending IRQs;
//! seed 000: the listener "monitors the per-processor alarm queue, and dispatches expired
//! alarms").
//!
//! Each CPU keeps the alarms armed on it in its `AlarmQueue`. At every exit, and so at every
//! idle wake-up, the CPU POSTs `ALARM_FIRED` for each alarm whose deadline has passed, nearest
//! deadline first, and disarms it (one-shot) or queues it for its next period. An alarm fires
//! only on its own CPU, under its own lock, after checking it is still armed there with a
//! deadline not after now: once per expiry, never early. The exit path reads one word when
//! nothing is due (`PerCpu::next_alarm`) and the clock only when something may be.

use tessera_abi::post::{PostPayload, ALARM_FIRED};

use crate::cpu::Cpu;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::alarm::Armed;
use crate::pending_irqs::KernelPost;
use crate::platform::Platform;
use crate::post::Sender;
use crate::sync::atomic::Ordering;
use crate::sync::{CpuId, Restart};

impl<P: Platform> Kernel<P> {
    /// The nearest deadline of the alarms armed on `cpu` (for the arch's idle loop, which
    /// programs its timer for it), if any.
    #[inline]
    pub fn next_alarm(&self, cpu: CpuId) -> Option<u64> {
        let d = self.shared(cpu).next_alarm.load(Ordering::Acquire);
        (d != u64::MAX).then_some(d)
    }

    /// Whether an alarm of this CPU is due (checked by the exit path before it is skipped):
    /// one load when none is armed here, the clock only when one is.
    #[inline]
    pub(crate) fn alarm_due(&self, cpu: CpuId) -> bool {
        let d = self.shared(cpu).next_alarm.load(Ordering::Acquire);
        d != u64::MAX && d <= self.alarm_clock()
    }

    /// The clock alarms are judged by: the platform's (early, with a planted bug).
    #[inline]
    fn alarm_clock(&self) -> u64 {
        #[cfg(feature = "planted-bugs")]
        if self.planted_is(crate::planted::PlantedBug::FireAlarmEarly) {
            return self.platform.now_ns() + 1_000;
        }
        self.platform.now_ns()
    }

    /// POSTs every alarm of this CPU whose deadline has passed, nearest first.
    pub(crate) fn post_due_alarms(&self, cpu: &mut Cpu) {
        if !self.alarm_due(cpu.id) {
            return;
        }
        let now = self.alarm_clock();
        let shared = self.shared(cpu.id);
        let mut last = None;
        loop {
            let first = shared.alarms.lock().first();
            let Some(due) = first.filter(|&(_, d)| d <= now) else {
                break;
            };
            // Every firing disarms or re-queues its alarm for later than now; the same entry
            // twice would be a broken queue, not a reason to spin.
            if last == Some(due) {
                break;
            }
            last = Some(due);
            self.retry(cpu, |k, cpu| k.fire_alarm(cpu, due.0, now));
        }
        self.run_deferred(cpu);
    }

    /// Alarm `index`, at the head of this CPU's queue: POSTs it if it is still armed here and
    /// due at `now`.
    fn fire_alarm(&self, cpu: &mut Cpu, index: u32, now: u64) -> Result<(), Restart> {
        let Some(id) = self.alarms.id_at(index) else {
            return Ok(());
        };
        cpu.held.write(self, LockKey::alarm(index))?;
        let Some(Some(a)) = self.alarms.read(id, |al| al.armed) else {
            return Ok(());
        };
        if a.cpu != cpu.id || a.deadline > now {
            return Ok(());
        }
        #[cfg(feature = "planted-bugs")]
        if self.planted_is(crate::planted::PlantedBug::FireAlarmTwice) {
            self.post_from_kernel(cpu, a.endpoint, Sender::Alarm(index), payload(&a))?;
        }
        let posted = self.post_from_kernel(cpu, a.endpoint, Sender::Alarm(index), payload(&a))?;
        // Past the commit point of the POST: the rest only updates what this CPU holds locked.
        if posted == KernelPost::Busy {
            // Its previous POST is still queued: this expiry rides on it, with this word.
            self.posts.merge(Sender::Alarm(index), payload(&a));
        }
        let gone = posted == KernelPost::NoRecipient;
        trace_event!(
            self,
            cpu.id,
            AlarmFired,
            if gone {
                crate::trace::NO_PROCESS
            } else {
                a.endpoint.obj.index
            },
            u64::from(index),
            match posted {
                KernelPost::Delivered | KernelPost::Queued => 1,
                KernelPost::Busy => 2,
                KernelPost::NoRecipient => 0,
            }
        );
        let next = (a.period != 0 && !gone).then(|| next_deadline(&a, now));
        self.alarms.write(id, |al| {
            al.fired += u64::from(!gone);
            al.armed = next.map(|deadline| Armed { deadline, ..a });
        });
        match next {
            Some(d) => self.queue_alarm(cpu.id, index, d),
            None => self.unqueue_alarm(index, Some(a)),
        }
        Ok(())
    }

    /// Queues alarm `index` (locked) on CPU `on` for `deadline`, or moves it there.
    pub(crate) fn queue_alarm(&self, on: CpuId, index: u32, deadline: u64) {
        let stamp = self.stamp();
        let shared = self.shared(on);
        let mut q = shared.alarms.lock();
        // The queue has a place for every alarm table slot, so this cannot fail.
        q.set(index, deadline, stamp);
        let next = q.first().map_or(u64::MAX, |(_, d)| d);
        shared.next_alarm.store(next, Ordering::Release);
    }

    /// Takes alarm `index` (locked), armed as `armed`, out of its CPU's queue.
    pub(crate) fn unqueue_alarm(&self, index: u32, armed: Option<Armed>) {
        let Some(a) = armed else {
            return;
        };
        let shared = self.shared(a.cpu);
        let mut q = shared.alarms.lock();
        q.remove(index);
        let next = q.first().map_or(u64::MAX, |(_, d)| d);
        shared.next_alarm.store(next, Ordering::Release);
    }
}

fn payload(a: &Armed) -> PostPayload {
    PostPayload {
        order: ALARM_FIRED,
        word: a.word,
    }
}

/// A periodic alarm's first deadline after `now`: whole periods after the one that passed,
/// skipping those missed meanwhile.
fn next_deadline(a: &Armed, now: u64) -> u64 {
    let missed = (now - a.deadline) / a.period;
    a.deadline
        .saturating_add(a.period.saturating_mul(missed + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::Cap;

    #[test]
    fn a_periodic_alarm_skips_the_periods_it_missed() {
        let a = Armed {
            deadline: 100,
            period: 30,
            endpoint: Cap::NULL,
            word: 0,
            cpu: CpuId::BOOT,
        };
        assert_eq!(next_deadline(&a, 100), 130);
        assert_eq!(next_deadline(&a, 129), 130);
        assert_eq!(next_deadline(&a, 130), 160);
        assert_eq!(
            next_deadline(
                &Armed {
                    deadline: u64::MAX - 5,
                    ..a
                },
                u64::MAX
            ),
            u64::MAX
        );
    }
}
