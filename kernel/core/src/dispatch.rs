//! The scheduling policy and the kernel's entry and exit: what the arch calls.
//!
//! Policy: fixed priorities with round robin inside a level (the run queue of `sched.rs`), one
//! run queue per CPU, a quantum of `DEFAULT_QUANTUM_TICKS` timer ticks, and needResched.
//! Preemption happens only at kernel exit: a woken process of higher priority than the one
//! running on its CPU sets that CPU's needResched (and interrupts it if remote). An idle CPU
//! steals the best process from another CPU's queue.
//!
//! # Invariants
//! - On return from `exit` this CPU holds no lock and has no deferred work (seed 001: nothing
//!   is held past kernel exit).
//! - A process with `restart` set (KernStall) never returns to user mode before its saved
//!   invocation has been re-run (seed 002).

use crate::cap::ObjId;
use crate::cpu::{Cpu, IDLE};
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{Resumes, RunState};
use crate::platform::Platform;
use crate::sched::{Position, DEFAULT_QUANTUM_TICKS};
use crate::sync::atomic::Ordering;
use crate::sync::{CpuId, Restart};

/// Where the arch goes after the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Return to user mode in `process`, whose registers are now in the trap frame, running
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

/// What to do with the current process at exit.
enum Verdict<S> {
    Keep(S, Option<ObjId>),
    Rerun,
    Drop,
}

impl<P: Platform> Kernel<P> {
    /// A `syscall` from the current process: `regs` holds its registers; on return they hold
    /// those of the process to resume.
    pub fn syscall(&self, cpu: &mut Cpu, regs: &mut P::SaveArea) -> Exit {
        if let Some(me) = cpu.current {
            if self.save_registers(cpu, me, regs, true) {
                self.invoke(cpu, me);
            }
        }
        self.exit(cpu, regs)
    }

    /// User mode was interrupted (IRQ, timer or IPI): the non-local return into the
    /// rescheduler of seed 001.
    pub fn interrupted(&self, cpu: &mut Cpu, regs: &mut P::SaveArea) -> Exit {
        if let Some(me) = cpu.current {
            self.save_registers(cpu, me, regs, false);
        }
        self.exit(cpu, regs)
    }

    /// Interrupt context: IRQ `line` fired on `cpu`. Touches only pendingIRQs and needResched;
    /// the line is posted to its endpoint at the next kernel exit. Lines past 63 are ignored.
    pub fn note_irq(&self, cpu: CpuId, line: u32) {
        if let Some(bit) = 1u64.checked_shl(line) {
            let shared = self.shared(cpu);
            shared.pending_irqs.fetch_or(bit, Ordering::AcqRel);
            shared.request_resched();
        }
    }

    /// Interrupt context: one timer tick on `cpu`; a used-up quantum sets needResched.
    pub fn timer_tick(&self, cpu: CpuId) {
        let shared = self.shared(cpu);
        let left = shared.ticks_left.load(Ordering::Relaxed);
        shared
            .ticks_left
            .store(left.saturating_sub(1), Ordering::Relaxed);
        if left <= 1 {
            shared.request_resched();
        }
    }

    /// Kernel exit: deferred wake-ups, pending IRQs, then the rescheduler. Writes the next
    /// process's registers into `regs`.
    pub fn exit(&self, cpu: &mut Cpu, regs: &mut P::SaveArea) -> Exit {
        self.run_deferred(cpu);
        self.post_pending_irqs(cpu);
        let exit = self.schedule(cpu, regs);
        assert!(
            cpu.held.is_empty() && cpu.deferred.is_empty(),
            "kernel exit with locks or work held (kernel bug)"
        );
        exit
    }

    /// Saves the trapped registers of `me`; returns whether its invocation should run. A
    /// process halted by another CPU before it noticed keeps its registers and, if it trapped
    /// with a system call, re-runs that call when resumed.
    fn save_registers(&self, cpu: &mut Cpu, me: ObjId, regs: &P::SaveArea, syscall: bool) -> bool {
        loop {
            let r: Result<bool, Restart> = (|| {
                cpu.held.write(self, LockKey::Process(me.index))?;
                Ok(self
                    .processes
                    .write(me, |p| {
                        p.save = regs.clone();
                        if syscall && p.state == RunState::Halted(Resumes::Run { restart: false }) {
                            p.state = RunState::Halted(Resumes::Run { restart: true });
                        }
                        p.state == RunState::Running
                    })
                    .unwrap_or(false))
            })();
            cpu.held.release_all(self);
            if let Ok(run) = r {
                return run;
            }
        }
    }

    fn schedule(&self, cpu: &mut Cpu, regs: &mut P::SaveArea) -> Exit {
        loop {
            self.run_deferred(cpu);
            if let Some(cur) = cpu.current {
                match self.verdict(cpu, cur) {
                    Verdict::Keep(save, space) => {
                        *regs = save;
                        return Exit::User {
                            process: cur,
                            space,
                        };
                    }
                    Verdict::Rerun => {
                        self.invoke(cpu, cur);
                        continue;
                    }
                    Verdict::Drop => {
                        cpu.current = None;
                        self.shared(cpu.id)
                            .running_priority
                            .store(IDLE, Ordering::Release);
                    }
                }
            }
            match self.pick(cpu) {
                Some(next) => self.dispatch(cpu, next),
                None => return Exit::Idle,
            }
        }
    }

    /// Decides, under its lock, whether the current process goes on.
    fn verdict(&self, cpu: &mut Cpu, cur: ObjId) -> Verdict<P::SaveArea> {
        let resched = self.shared(cpu.id).take_resched();
        loop {
            let expired = self.shared(cpu.id).ticks_left.load(Ordering::Relaxed) == 0;
            let r: Result<Verdict<P::SaveArea>, Restart> = (|| {
                cpu.held.write(self, LockKey::Process(cur.index))?;
                Ok(self
                    .processes
                    .write(cur, |p| match p.state {
                        RunState::Running if p.restart => {
                            p.restart = false;
                            Verdict::Rerun
                        }
                        RunState::Running if !resched => {
                            let space = Some(p.space.obj)
                                .filter(|s| self.spaces.is_live(*s) && !p.space.is_null());
                            Verdict::Keep(p.save.clone(), space)
                        }
                        RunState::Running => {
                            p.cpu = None;
                            p.home = cpu.id;
                            self.make_ready(
                                cpu,
                                cur,
                                p,
                                if expired {
                                    Position::Tail
                                } else {
                                    Position::Head
                                },
                            );
                            Verdict::Drop
                        }
                        _ => {
                            p.cpu = None;
                            Verdict::Drop
                        }
                    })
                    .unwrap_or(Verdict::Drop))
            })();
            cpu.held.release_all(self);
            if let Ok(v) = r {
                return v;
            }
        }
    }

    /// The best ready process: this CPU's queue first, then another CPU's.
    fn pick(&self, cpu: &Cpu) -> Option<ObjId> {
        let own = self.shared(cpu.id).run.lock().pick();
        if let Some((id, _)) = own {
            return Some(id);
        }
        self.cpu_ids()
            .filter(|&c| c != cpu.id)
            .find_map(|c| self.shared(c).run.lock().pick())
            .map(|(id, _)| id)
    }

    /// Makes `next` (just taken off a run queue) current here, if it is still ready.
    fn dispatch(&self, cpu: &mut Cpu, next: ObjId) {
        loop {
            let r: Result<Option<u8>, Restart> = (|| {
                cpu.held.write(self, LockKey::Process(next.index))?;
                Ok(self
                    .processes
                    .write(next, |p| {
                        p.queued_on = None;
                        (p.state == RunState::Running && p.cpu.is_none()).then(|| {
                            p.cpu = Some(cpu.id);
                            p.home = cpu.id;
                            p.priority.get()
                        })
                    })
                    .flatten())
            })();
            cpu.held.release_all(self);
            match r {
                Ok(Some(prio)) => {
                    cpu.current = Some(next);
                    let shared = self.shared(cpu.id);
                    shared
                        .running_priority
                        .store(u32::from(prio), Ordering::Release);
                    shared
                        .ticks_left
                        .store(DEFAULT_QUANTUM_TICKS, Ordering::Relaxed);
                    return;
                }
                Ok(None) => return,
                Err(Restart) => {}
            }
        }
    }
}
