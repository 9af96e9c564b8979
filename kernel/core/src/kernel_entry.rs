//! The kernel's entry and exit: what the arch calls.
//!
//! - `syscall(cpu)` after a `syscall` instruction, `interrupted(cpu, space)` when user mode was
//!   interrupted, `exit(cpu)` to leave the kernel: each returns an `Exit` saying what to
//!   resume. Registers never travel through these calls: the arch saves them into the current
//!   process's save area and loads the resumed one's from its own (`save_areas.rs`).
//! - `note_irq` and `timer_tick` run in interrupt context and touch only this CPU's
//!   pendingIRQs, needResched and tick count (seed 001), and the platform's mask of a
//!   level-triggered line.
//!
//! # Invariants
//! - On return from `exit` this CPU holds no lock and has no deferred work (seed 001: nothing
//!   is held past kernel exit). `syscall` skips `exit` only when its path released every lock,
//!   found under the current process's lock that it goes on here, and the exit would have
//!   nothing to do (`quiet_exit`), so the same holds then. `interrupted` skips it only when the
//!   interrupt's deferred work left nothing behind and the exit would have nothing to do
//!   (`quiet_exit` again).

use crate::cap::ObjId;
use crate::cpu::Cpu;
use crate::invoke::fastpath::Fast;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::RunState;
use crate::outcome::Next;
use crate::platform::Platform;
use crate::scheduler::Exit;
use crate::sync::atomic::Ordering;
use crate::sync::CpuId;

impl<P: Platform> Kernel<P> {
    /// A `syscall` from the current process, whose registers the arch saved in its save area
    /// (`Kernel::saves`). Returns the process to resume, whose registers are in its own area.
    pub fn syscall(&self, cpu: &mut Cpu) -> Exit {
        let Some(me) = cpu.current else {
            return self.exit(cpu);
        };
        match self.fastpath(cpu, me) {
            Fast::Runs(space) => {
                if let Some(exit) = self.quiet_exit(cpu, space) {
                    return exit;
                }
            }
            Fast::Left => {
                if let Some(exit) = self.run_next_here(cpu) {
                    return exit;
                }
            }
            fast => {
                let run = fast == Fast::General || matches!(self.enter_call(cpu, me), Entered::Run);
                if run {
                    let same = match self.invoke(cpu, me) {
                        Next::Same { space } => self.quiet_exit(cpu, space),
                        Next::Exit | Next::Stalled => None,
                    };
                    if let Some(exit) = same {
                        return exit;
                    }
                }
            }
        }
        self.exit(cpu)
    }

    /// After the fast path or a kernel-object order, which found under its lock that the
    /// current process goes on here: return to it at once if the exit path has nothing to do,
    /// no deferred wake-up, no pending IRQ, no alarm due and no reschedule request. A request made after this check (a halt, a
    /// preemption) interrupts the process in user mode, as it would after `exit`.
    fn quiet_exit(&self, cpu: &Cpu, space: Option<ObjId>) -> Option<Exit> {
        let shared = self.shared(cpu.id);
        let quiet = cpu.deferred.is_empty()
            && shared.pending_irqs.load(Ordering::Acquire) == 0
            && !shared.need_resched.load(Ordering::Acquire)
            && !self.alarm_due(cpu.id);
        match cpu.current {
            Some(process) if quiet => Some(Exit::User { process, space }),
            _ => None,
        }
    }

    /// User mode was interrupted (IRQ, timer or IPI), its registers saved in its save area,
    /// while it ran in address space `space` (as the exit that resumed it said): the non-local
    /// return into the rescheduler of seed 001. The interrupt's deferred work runs first; if it
    /// changed nothing for this CPU (no reschedule asked, no wake-up left, no alarm due) the
    /// process goes on at once, as if it had not been interrupted, and nothing is locked. Whatever must stop a running process (a halt, a preemption, an
    /// affinity change, an expired quantum) asks this CPU for a reschedule.
    pub fn interrupted(&self, cpu: &mut Cpu, space: Option<ObjId>) -> Exit {
        if cpu.current.is_none() {
            return self.exit(cpu);
        }
        self.post_pending_irqs(cpu);
        let live = space.is_none_or(|s| self.spaces.is_live(s));
        if let Some(exit) = self.quiet_exit(cpu, space).filter(|_| live) {
            return exit;
        }
        self.exit(cpu)
    }

    /// Interrupt context: IRQ `line` fired on `cpu`. Touches only this CPU's pendingIRQs (and
    /// masks a level-triggered line until its driver ACKs); the line is posted to its
    /// endpoint at the next kernel exit, which asks for a reschedule if that POST wakes a
    /// process more urgent than the one running (`make_ready_at`), so the interrupt itself
    /// does not. Lines past 63 are ignored.
    pub fn note_irq(&self, cpu: CpuId, line: u32) {
        if let Some(bit) = 1u64.checked_shl(line) {
            if self.platform.irq_level_triggered(line) {
                self.platform.set_irq_masked(line, true);
            }
            self.shared(cpu)
                .pending_irqs
                .fetch_or(bit, Ordering::AcqRel);
        }
    }

    /// Interrupt context: one timer tick on `cpu`; a used-up quantum, or a stall-queue
    /// reservation run out (`dispatch.rs`), sets needResched.
    pub fn timer_tick(&self, cpu: CpuId) {
        let shared = self.shared(cpu);
        let left = shared.ticks_left.load(Ordering::Relaxed);
        shared
            .ticks_left
            .store(left.saturating_sub(1), Ordering::Relaxed);
        let now = shared.ticks.fetch_add(1, Ordering::Relaxed) + 1;
        if left <= 1 || now >= shared.reserved_until.load(Ordering::Acquire) {
            shared.request_resched();
        }
    }

    /// Kernel exit: deferred wake-ups, pending IRQs, expired alarms, then the rescheduler.
    pub fn exit(&self, cpu: &mut Cpu) -> Exit {
        self.run_deferred(cpu);
        self.post_pending_irqs(cpu);
        self.post_due_alarms(cpu);
        let exit = self.schedule(cpu);
        assert!(
            cpu.held.is_empty() && cpu.deferred.is_empty(),
            "kernel exit with locks or work held (kernel bug)"
        );
        exit
    }

    /// Locks `me`, whose system call the fast paths declined. If its invocation should run, it
    /// stays write-locked (the invocation path locks its caller first anyway, so holding on
    /// saves a release and a re-acquisition). A process halted by another CPU before it
    /// noticed re-runs that call when resumed.
    fn enter_call(&self, cpu: &mut Cpu, me: ObjId) -> Entered {
        // The list is empty on entry, so this lock is waited for and the loop runs once.
        while cpu.held.write(self, LockKey::process(me.index)).is_err() {
            cpu.held.release_all(self);
        }
        // COMMIT POINT: one lock; the process's state decides the rest.
        let entered = self
            .processes
            .write(me, |p| {
                p.rerun_on_resume();
                if p.state == RunState::Running {
                    Entered::Run
                } else {
                    Entered::Stop
                }
            })
            .unwrap_or(Entered::Stop);
        if matches!(entered, Entered::Stop) {
            cpu.held.release_all(self);
        }
        entered
    }
}

/// What the syscall entry found, its registers saved.
enum Entered {
    /// The caller does not run (halted, or not a system call): nothing to invoke.
    Stop,
    /// Run its invocation.
    Run,
}
