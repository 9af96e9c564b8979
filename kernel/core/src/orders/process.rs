//! Process orders (`tessera_abi::order::process`).

use tessera_abi::cap::CAP_SPACE_SLOTS;
use tessera_abi::{order, CapType, Error, ProcessInfo, QueueOwned, Rights};

use crate::cap::{Cap, ObjId};
use crate::cpu::Cpu;
use crate::invoke::object::{need, KReply, OrderResult};
use crate::invoke::Msg;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{Process, QueueRef, Resumes, RunState};
use crate::platform::{Platform, SaveArea};
use crate::run_queue::{Position, Priority};
use crate::sync::CpuId;

impl<P: Platform> Kernel<P> {
    pub(crate) fn process_order(&self, cpu: &mut Cpu, cap: Cap, msg: &Msg) -> OrderResult {
        let v = cap.obj;
        let needed = match msg.order {
            order::process::INFO | order::process::GET_CAP => Rights::READ,
            order::process::HALT
            | order::process::RESUME
            | order::process::SET_PRIORITY
            | order::process::SET_CEILING
            | order::process::SET_ENTRY
            | order::process::SET_SPACE
            | order::process::SET_CAP
            | order::process::MAKE_ENDPOINT
            | order::process::YIELD
            | order::process::SET_FAULT_ENDPOINT
            | order::process::SET_NOTIFY
            | order::process::WRITE_REGS
            | order::process::TRACE_EVENT
            | order::process::TRACE_SWITCH
            | order::process::SET_AFFINITY => Rights::WRITE,
            order::process::READ_REGS => Rights::READ,
            _ => return Err(Error::UnknownOrder.into()),
        };
        need(&cap, needed)?;
        let none = KReply::default();
        match msg.order {
            order::process::HALT => return self.halt(cpu, v, msg.caller),
            order::process::RESUME => return self.resume(cpu, v).map(|()| none),
            order::process::YIELD => {
                self.yield_quantum(cpu, v)?;
                return Ok(none);
            }
            order::process::SET_FAULT_ENDPOINT => return self.set_keeper(cpu, v, msg),
            order::process::SET_NOTIFY => return self.set_notify(cpu, v, msg),
            order::process::TRACE_EVENT => return Ok(self.trace_event(cpu, v, msg)?),
            order::process::TRACE_SWITCH => return Ok(self.trace_switch(msg)?),
            order::process::READ_REGS | order::process::WRITE_REGS => {
                return self.registers_order(cpu, v, msg)
            }
            _ => {}
        }
        let slot = usize::try_from(msg.data[0])
            .ok()
            .filter(|&s| s < CAP_SPACE_SLOTS);
        let arg = msg.caps[0];
        // Neither the capability nor the caller may give more than its own ceiling.
        let ceiling = cap.ceiling().min(msg.ceiling);
        let asked = u8::try_from(msg.data[0]).ok().and_then(Priority::new);
        let checked = match msg.order {
            order::process::SET_PRIORITY | order::process::SET_CEILING => match asked {
                None => Err(Error::InvalidArgument),
                Some(p) if p > ceiling => Err(Error::MissingRights),
                Some(_) => Ok(()),
            },
            order::process::SET_CAP => match (
                slot,
                msg.ndata < 2 || Rights::from_raw(msg.data[1]).is_some(),
            ) {
                (Some(s), true) if s != 0 => Ok(()),
                _ => Err(Error::InvalidArgument),
            },
            order::process::GET_CAP => slot.map(|_| ()).ok_or(Error::InvalidArgument),
            order::process::SET_SPACE if arg.ty != CapType::AddressSpace => Err(if arg.is_null() {
                Error::NullArgument
            } else {
                Error::WrongType
            }),
            order::process::SET_SPACE if !self.is_live(&arg) => Err(Error::NullArgument),
            order::process::SET_AFFINITY => self.online_cpu(msg.data[0]).map(|_| ()),
            _ => Ok(()),
        };
        if let Err(e) = checked {
            return Err(e.into());
        }
        let write = needed == Rights::WRITE;
        if write {
            cpu.held.write(self, LockKey::process(v.index))?;
        } else {
            cpu.held.read(self, LockKey::process(v.index))?;
        }
        let stopped = |p: &crate::object::process::Process| {
            matches!(p.state, RunState::Halted(_)) && p.cpu.is_none()
        };
        if msg.order == order::process::SET_ENTRY && self.processes.read(v, stopped) != Some(true) {
            return Err(Error::BadState.into());
        }
        // COMMIT POINT: the process is locked and the arguments are checked.
        let reply = if write {
            self.processes.write(v, |p| match msg.order {
                order::process::SET_PRIORITY => {
                    p.priority = asked.unwrap_or(p.priority);
                    if let Some(c) = p.queued_on.take() {
                        self.shared(c).run.lock().remove(v);
                        self.make_ready(cpu, v, p, Position::Tail);
                    }
                    if let Some(c) = p.cpu {
                        self.shared(c).request_resched();
                    }
                    KReply::default()
                }
                order::process::SET_AFFINITY => {
                    let affinity = self.online_cpu(msg.data[0]).unwrap_or(None);
                    self.set_affinity(cpu, v, p, affinity);
                    KReply::default()
                }
                order::process::SET_ENTRY => {
                    // A fresh start: nothing it was halted in (an open wait, a stalled or
                    // re-run invocation, a fault message) may continue with the new registers.
                    self.with_regs(cpu.id, v, p, |_, r| {
                        r.set_entry(msg.data[0], msg.data[1], msg.data[2])
                    });
                    p.state = RunState::Halted(Resumes::Run { restart: false });
                    p.restart = false;
                    p.fault = None;
                    p.completing = None;
                    KReply::default()
                }
                order::process::SET_CEILING => {
                    p.ceiling = asked.unwrap_or(p.ceiling);
                    KReply::cap(cap.with_ceiling(p.ceiling))
                }
                order::process::SET_SPACE => {
                    p.space = arg;
                    KReply::default()
                }
                order::process::SET_CAP => {
                    let keep = if msg.ndata < 2 {
                        Rights::ALL
                    } else {
                        Rights::from_raw(msg.data[1]).unwrap_or(Rights::NONE)
                    };
                    if let Some(s) = slot {
                        p.caps[s] = arg.restrict(keep);
                    }
                    KReply::default()
                }
                _ => KReply::cap(Cap::endpoint(v, msg.data[0])),
            })
        } else {
            self.processes.read(v, |p| match msg.order {
                order::process::INFO => KReply::words(process_info(v, p).pack()),
                _ => KReply::cap(slot.map_or(Cap::NULL, |s| p.caps[s])),
            })
        };
        reply.ok_or(Error::NullCapability.into())
    }

    /// SET_AFFINITY's argument: `Some(cpu)` for a CPU online, `None` for any; refused if it
    /// names no CPU online.
    fn online_cpu(&self, raw: u64) -> Result<Option<CpuId>, Error> {
        if raw == order::process::ANY_CPU {
            return Ok(None);
        }
        usize::try_from(raw)
            .ok()
            .filter(|&c| c < self.cpu_count())
            .and_then(CpuId::new)
            .map(Some)
            .ok_or(Error::InvalidArgument)
    }

    /// Pins `p` (locked) to `affinity`, or frees it: queued elsewhere, it moves to its new
    /// CPU's queue now; running elsewhere, it leaves that CPU at its next exit
    /// (`scheduler.rs::decide`) and joins its new CPU's queue.
    fn set_affinity(
        &self,
        cpu: &Cpu,
        v: crate::cap::ObjId,
        p: &mut crate::object::process::Process,
        affinity: Option<CpuId>,
    ) {
        p.affinity = affinity;
        if let Some(a) = affinity {
            p.home = a;
        }
        // Requeued even when it stays on its CPU: the queue records whether it is pinned.
        if let Some(c) = p.queued_on.take() {
            self.shared(c).run.lock().remove(v);
            self.make_ready(cpu, v, p, Position::Tail);
        }
        if let Some(c) = p.cpu.filter(|&c| !p.may_run_on(c)) {
            self.shared(c).request_resched();
            if c != cpu.id {
                self.platform.send_ipi(c);
            }
        }
    }

    /// YIELD: an expired quantum puts the caller at the tail of its level at this exit
    /// (`scheduler.rs::verdict`). Only this CPU's own per-CPU state is touched, so no lock.
    pub(crate) fn yield_quantum(&self, cpu: &Cpu, v: crate::cap::ObjId) -> Result<(), Error> {
        if cpu.current != Some(v) {
            return Err(Error::BadState);
        }
        // COMMIT POINT: the caller is the process; nothing else to check.
        let shared = self.shared(cpu.id);
        shared
            .ticks_left
            .store(0, crate::sync::atomic::Ordering::Relaxed);
        shared.request_resched();
        Ok(())
    }
}

/// What INFO answers about process `v` (`p`, locked): the general path's and the fast path's
/// answer (`invoke/fastpath.rs`), so the two cannot drift apart.
pub(crate) fn process_info(v: ObjId, p: &Process) -> ProcessInfo {
    ProcessInfo {
        state: p.state.visible(),
        priority: p.priority.get(),
        ceiling: p.ceiling.get(),
        cpu: p.cpu.map(|c| c.index() as u32),
        affinity: p.affinity.map(|c| c.index() as u32),
        pid: v.index,
        invocations: p.invocations,
        owns: match p.owns {
            None => QueueOwned::None,
            Some(QueueRef::PostPool) => QueueOwned::PostPool,
            Some(QueueRef::Senders(of)) => QueueOwned::Senders(of.index),
            // Nobody owns a wake-all queue.
            Some(QueueRef::Leaving(_)) => QueueOwned::None,
        },
    }
}
