//! The fast paths (the seL4 fastpath idea), tried at the syscall entry before the general
//! invocation path, on the registers just trapped:
//! - **CALL through an Endpoint** to a process waiting for a message, and **RETURN through a
//!   Resume capability** to the process waiting for that reply: when the receiver would be the
//!   next to run on this CPU anyway, the message goes straight into its save area as the
//!   receiver's registers and it becomes current here.
//! - **SEND and POST through an Endpoint** to a waiting process of higher priority than the
//!   sender: the general path would deliver, queue the receiver, preempt the sender at exit
//!   (requeued at the head of its level, or the tail if its quantum is spent) and run the
//!   receiver; this path does all that at once.
//! - **POST to a busy receiver** (one that cannot take a message from this sender now): one of
//!   the sender's post activities is queued on the receiver's sender queue and the sender goes
//!   on, as `invoke/send.rs::queue_post` does; with its allotment spent, the general path runs.
//! - **A non-blocking CALL or SEND to a busy receiver** whose notification request from this
//!   caller is registered already, since the caller's last halt: `WouldBlock`, nothing
//!   registered (`notify.rs`); any other non-blocking case is the general path's.
//! - **GET_TYPE** on a live kernel object, **INFO** on the caller's own process, and **page
//!   READ_WORD/WRITE_WORD** (the page locked by one try, as `orders/memory.rs::page_order` locks
//!   it): the reply goes straight into the caller's save area.
//! - **YIELD** on the caller's own process: its quantum is given up (`orders/process.rs::
//!   yield_quantum`) and the reply written, skipping the general path's marshal and finish. If
//!   the exit would only schedule (`scheduler.rs::exit_only_schedules`), the caller also gets
//!   the verdict the exit would give it first (requeued at its level's tail) and the path ends
//!   with nobody current here (`Fast::Left`).
//! - **An open wait** (RETURN through Null): the caller becomes available, as
//!   `invoke/reply.rs::reply_and_wait` makes it. With someone queued to send to it (or
//!   watching it), the head is offered it at once by the general path's own `offer`: a queued
//!   POST that runs next here is delivered and the caller goes on (a driver taking its IRQ's
//!   POST). Otherwise it leaves the CPU (`Fast::Left`), and `scheduler.rs::run_next_here`
//!   dispatches the head of this CPU's run queue at once when the exit could pick nothing else;
//!   otherwise the exit runs.
//!
//! None uses the held-lock list: each object is locked directly by one try (the caller,
//! then the receiver), and any lock not free at once declines the fast path. Trying never
//! waits, so no order between the two locks is needed and no deadlock can form.
//!
//! # Preconditions (any failing one declines: nothing has changed, and the general path runs
//! the same invocation from the same registers; a caller already locked stays locked, on the
//! held-lock list, as the general path's first lock)
//! - The caller is current here, `Running`, owns no queue, has no fault CALL outstanding and
//!   no halt waiting to complete.
//! - The message is well formed, sends no capabilities, and names valid receive slots.
//! - GET_TYPE: a CALL on a live capability to a kernel object (not an Endpoint, Resume or
//!   Null capability, which the general path sends or refuses). INFO and YIELD: a live
//!   capability to the caller itself with the right the order needs. READ_WORD/WRITE_WORD: a
//!   live page capability with the right, a word in the page, the page's lock free.
//! - The open wait: a RETURN through a Null capability (any RETURN the general path treats as
//!   one through a dead resume capability is left to it). The YIELD switch and the dispatch
//!   after `Fast::Left`: as `scheduler.rs::exit_only_schedules` and `run_next_here` say.
//! - CALL/RETURN/SEND/POST: the receiver is another live process, its lock free, with no fault
//!   message outstanding, and it takes this message now: for CALL, SEND and POST it is
//!   `Available` and this sender would not barge (`may_receive_from`), and for SEND and POST it
//!   has a higher priority than the sender, which may run here; for RETURN it is `Waiting` for
//!   call number `badge`, nobody waits on the caller's own sender queue (the caller would take
//!   that message instead of waiting) and no notification request watches the caller
//!   (becoming available must notify them: `notify.rs`).
//! - The receiver is homed here, on no CPU and no run queue, and this CPU's run queue holds
//!   nobody of its priority or higher (its ready word says so, read without the queue's lock:
//!   `ready.rs`): the general path would queue it at the tail of its
//!   level and pick it next, which is what this path does at once.
//!
//! # Commit points
//! GET_TYPE, INFO, YIELD and the open wait: once the capability is found live (or Null), under
//! the caller's lock. READ_WORD/WRITE_WORD: once the page is locked and the offset checked.
//! The others: once every receiver precondition holds, under both locks (marked below); after
//! it nothing can fail. A queued POST: once a free activity of the sender's allotment is found, under both
//! locks. `WouldBlock`: once the registered request is found, under both locks.
//!
//! # Guarantees
//! - The outcome is the general path's (registers, states, tickets, counters, quantum, trace
//!   events): only the run queue, the marshal phase and the re-locking at exit are skipped.
//!   `tests/fastpath.rs` checks it case by case, and the simulator's one-CPU seeds run with
//!   the fast paths on and off and must see the same (`kernel/sim/tests/fastpath_equal.rs`).
//! - No save area is copied: the caller's registers stay where the entry saved them, and the
//!   receiver's message or reply is written into its own (`save_areas.rs`).
//! - The process current here on return was found so under its lock, so the exit needs
//!   no lock (`Kernel::quiet_exit`).

use tessera_abi::cap::CAP_SPACE_SLOTS;
use tessera_abi::message::{CapWord, MessageInfo, Reply, DATA_WORDS, RESUME_RECV_SLOT};
use tessera_abi::post::PostPayload;
use tessera_abi::{order, CapType, Error, InvocationKind, Rights};

use crate::cap::{Cap, ObjId};
use crate::cpu::Cpu;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{Process, RunState, Staller, Waiter};
use crate::orders::memory::PAGE_WORDS;
use crate::orders::process::process_info;
use crate::outcome::Next;
use crate::platform::{Platform, SaveArea};
use crate::post::{Activity, Sender as PostSender};
use crate::run_queue::{Position, Priority};
use crate::sync::atomic::Ordering;
use crate::sync::LockMode;

/// The outcome of a fast path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fast {
    /// A precondition failed before the caller's registers were looked at under its lock:
    /// nothing changed and nothing is held.
    Declined,
    /// A precondition failed under the caller's lock: nothing changed, and the caller stays
    /// write-locked on the held-lock list as the general path's first lock.
    General,
    /// Done: the process now current here (the caller, or the receiver it switched to) runs
    /// in this address space (`None`: it has none that lives).
    Runs(Option<ObjId>),
    /// Done, and the caller left this CPU (it waits in the open, or yielded): nobody is
    /// current here, and the exit schedules (`scheduler.rs::run_next_here`).
    Left,
}

/// The caller of a CALL, RETURN, SEND or POST, as the receiver side needs it.
struct Sender {
    ticket: u64,
    staller: Staller,
    priority: Priority,
    /// For a non-blocking CALL or SEND by a caller with a live notification endpoint: its
    /// halt count (a request it registered before its last halt is stale).
    renotify: Option<u64>,
}

/// What the receiver side did.
enum Switched {
    /// Nothing: the general path runs the call.
    No,
    /// The receiver is current here, in this address space.
    To(Option<ObjId>),
    /// The caller goes on: its POST queued, or its non-blocking call refused (`WouldBlock`).
    CallerGoesOn,
}

impl<P: Platform> Kernel<P> {
    /// Runs `me`'s system call, whose registers are in its save area, by a fast path if every
    /// precondition holds (file header).
    pub(crate) fn fastpath(&self, cpu: &mut Cpu, me: ObjId) -> Fast {
        if !self.fast_paths.load(Ordering::Relaxed) {
            return Fast::Declined;
        }
        // The words the paths read later are read there, from the area.
        let (slot, raw, caps) = self.current_regs(me, |r| {
            let inv = r.invocation();
            (inv.cap, inv.info, inv.caps)
        });
        let Some(info) = MessageInfo::unpack(raw) else {
            return Fast::Declined;
        };
        let recv = CapWord::unpack(caps).recv;
        if info.caps != 0
            || info.resume
            || (info.kind == InvocationKind::Post && info.data_words > 1)
            || recv.iter().any(|&r| usize::from(r) >= CAP_SPACE_SLOTS)
        {
            return Fast::Declined;
        }
        let own = self.processes.lock(me.index);
        if !own.try_write() {
            return Fast::Declined;
        }
        self.txns.enter(cpu.id);
        let here = &mut *cpu;
        let fast = self
            .processes
            .write(me, move |p| self.on_caller(here, me, p, slot, info))
            .unwrap_or(Fast::Declined);
        if let Fast::Runs(_) | Fast::Left = fast {
            cpu.fast_runs += 1;
        }
        match fast {
            Fast::Runs(_) | Fast::Left | Fast::Declined => own.unlock_write(),
            Fast::General => cpu.held.adopt(LockKey::process(me.index), LockMode::Write),
        }
        fast
    }

    /// The caller-side checks of the fast paths, on the caller `p` (process `me`, current
    /// here and write-locked) invoking its capability in `slot` with `info`; a CALL, RETURN,
    /// SEND or POST goes on to the receiver side with the caller still in hand, so nothing of
    /// it is looked up twice.
    fn on_caller(
        &self,
        cpu: &mut Cpu,
        me: ObjId,
        p: &mut Process,
        slot: u64,
        info: MessageInfo,
    ) -> Fast {
        if p.state != RunState::Running {
            return Fast::Declined;
        }
        let target = p.cap(slot).unwrap_or(Cap::NULL);
        let send = match (info.kind, target.ty) {
            _ if p.owns.is_some() || p.fault.is_some() || p.completing.is_some() => false,
            (InvocationKind::Call, CapType::Endpoint) => true,
            // A SEND or POST runs its receiver at once only if it preempts the sender;
            // otherwise the general path queues it.
            (InvocationKind::Send | InvocationKind::Post, CapType::Endpoint) => {
                p.may_run_on(cpu.id)
            }
            (InvocationKind::Return, CapType::Resume) => !p.awaited(),
            (InvocationKind::Return, CapType::Null) => {
                return self.open_wait_here(cpu, me, p, target, info);
            }
            (InvocationKind::Call, CapType::Null | CapType::Resume) => false,
            (InvocationKind::Call, CapType::Process)
                if info.order == order::process::YIELD
                    && target.obj == me
                    && target.rights.contains(Rights::WRITE)
                    && self.is_live(&target) =>
            {
                return self.yield_fast(cpu, me, p, target, info);
            }
            (InvocationKind::Call, CapType::Process)
                if info.order == order::process::INFO
                    && target.obj == me
                    && target.rights.contains(Rights::READ)
                    && self.is_live(&target) =>
            {
                // COMMIT POINT (INFO on itself): a read of the caller, which is locked.
                let reply = Reply {
                    data: process_info(me, p).pack(),
                    ..Reply::default()
                };
                return self.answered(cpu, me, p, target, info, reply);
            }
            (InvocationKind::Call, CapType::Page)
                if matches!(info.order, order::page::READ_WORD | order::page::WRITE_WORD) =>
            {
                return self.page_word_here(cpu, me, p, target, info);
            }
            (InvocationKind::Call, _) if info.order == order::GET_TYPE && self.is_live(&target) => {
                // COMMIT POINT (GET_TYPE): the type is in the live capability.
                let reply = Reply {
                    data: [target.ty as u64, 0, 0, 0],
                    ..Reply::default()
                };
                return self.answered(cpu, me, p, target, info, reply);
            }
            _ => false,
        };
        if !send || target.obj == me {
            return Fast::General;
        }
        let nonblocking = info.nonblocking && info.kind != InvocationKind::Post;
        let sender = Sender {
            ticket: p.ticket,
            staller: p.staller(me),
            priority: p.priority,
            renotify: (nonblocking && self.is_live(&p.notify)).then_some(p.halts),
        };
        self.switch_to_receiver(cpu, me, p, target, sender, info)
    }

    /// An open wait (RETURN through Null) by `me` (`p`, locked). Out of line, as
    /// `yield_fast`: inlined, both cost the CALL and RETURN paths instructions they never run.
    #[inline(never)]
    fn open_wait_here(
        &self,
        cpu: &mut Cpu,
        me: ObjId,
        p: &mut Process,
        target: Cap,
        info: MessageInfo,
    ) -> Fast {
        // COMMIT POINT (open wait): it becomes available, as `reply_and_wait` makes it with no
        // reply to give, and waits as the general path's `wait_open` waits: offered at once to
        // a sender queued for it (a queued POST that would run next here is delivered, and the
        // caller goes on: a driver taking its IRQ's POST), or off this CPU, the exit picking
        // who runs next (`run_next_here`).
        self.trace_invoked(cpu.id, me, target, info.order);
        p.invocations += 1;
        p.state = RunState::Available;
        match self.wait_open(cpu, me, p) {
            Next::Same { space } => Fast::Runs(space),
            Next::Exit | Next::Stalled => Fast::Left,
        }
    }

    /// YIELD by `me` (`p`, locked) through a live capability to itself with write rights.
    #[inline(never)]
    fn yield_fast(
        &self,
        cpu: &mut Cpu,
        me: ObjId,
        p: &mut Process,
        target: Cap,
        info: MessageInfo,
    ) -> Fast {
        // COMMIT POINT (YIELD): the caller, current here, yields its own quantum, which
        // touches only this CPU's state (it cannot fail).
        if self.yield_quantum(cpu, me).is_err() {
            return Fast::General;
        }
        let answered = self.answered(cpu, me, p, target, info, Reply::default());
        if p.restart || !self.exit_only_schedules(cpu) {
            return answered;
        }
        // The exit would only schedule, and its first step is the verdict on the caller:
        // requeued at its level's tail. That is done here.
        self.yield_here(cpu, me, p);
        Fast::Left
    }

    /// A kernel-object order answered on the fast path (its commit point passed): the caller
    /// `p` (process `me`, locked) gets `reply` and goes on here, as the general path's
    /// `finish` would leave it.
    #[inline(always)]
    fn answered(
        &self,
        cpu: &Cpu,
        me: ObjId,
        p: &mut Process,
        target: Cap,
        info: MessageInfo,
        reply: Reply,
    ) -> Fast {
        self.trace_invoked(cpu.id, me, target, info.order);
        p.invocations += 1;
        self.current_regs(me, |r| r.set_reply(&reply));
        Fast::Runs(self.live_space(p))
    }

    /// READ_WORD or WRITE_WORD on a page, the caller `p` (process `me`) locked: the page is
    /// locked by one try, for reading or writing as `orders/memory.rs::page_order` locks it,
    /// and the word read or written. A check that fails, or a page lock not free at once,
    /// leaves the order to the general path, which refuses it or waits as it would anyway.
    fn page_word_here(
        &self,
        cpu: &Cpu,
        me: ObjId,
        p: &mut Process,
        target: Cap,
        info: MessageInfo,
    ) -> Fast {
        let write = info.order == order::page::WRITE_WORD;
        let needed = if write { Rights::WRITE } else { Rights::READ };
        // The general path sees only the words the message carries (`marshal.rs`).
        let sent = self.current_regs(me, |r| r.invocation().data);
        let n = usize::from(info.data_words);
        let word = if n >= 1 { sent[0] } else { 0 };
        let value = if n >= 2 { sent[1] } else { 0 };
        if !target.rights.contains(needed) || word >= PAGE_WORDS || !self.is_live(&target) {
            return Fast::General;
        }
        let lock = self.pages.lock(target.obj.index);
        if !(if write {
            lock.try_write()
        } else {
            lock.try_read()
        }) {
            return Fast::General;
        }
        let frame = self.pages.read(target.obj, |page| page.frame);
        let read = frame.map(|frame| {
            // COMMIT POINT (READ_WORD, WRITE_WORD): the page is locked and the offset checked.
            if write {
                self.platform.write_frame_word(frame, word as usize, value);
                0
            } else {
                self.platform.read_frame_word(frame, word as usize)
            }
        });
        if write {
            lock.unlock_write();
        } else {
            lock.unlock_read();
        }
        match read {
            Some(d) => {
                let reply = Reply {
                    data: [d, 0, 0, 0],
                    ..Reply::default()
                };
                self.answered(cpu, me, p, target, info, reply)
            }
            None => Fast::General,
        }
    }

    /// The receiver side of a fast path, with the caller (of priority `priority`) locked: on
    /// success the receiver is current here, its message or reply in its registers; otherwise
    /// the general path runs the call.
    #[allow(clippy::too_many_arguments)]
    fn switch_to_receiver(
        &self,
        cpu: &mut Cpu,
        me: ObjId,
        p: &mut Process,
        target: Cap,
        caller: Sender,
        info: MessageInfo,
    ) -> Fast {
        let Sender {
            ticket,
            staller,
            priority,
            renotify,
        } = caller;
        let t = target.obj;
        let call = info.kind == InvocationKind::Call;
        let reply = info.kind == InvocationKind::Return;
        let lock = self.processes.lock(t.index);
        if !lock.try_write() {
            return Fast::General;
        }
        let bar = self.shared(cpu.id).run.highest();
        let sender = Waiter::Process(staller);
        let switched = self
            .processes
            .write(t, |r| {
                let takes = if reply {
                    r.state == RunState::Waiting && r.ticket == target.badge
                } else {
                    r.may_receive_from(sender) && (call || r.priority > priority)
                };
                #[cfg(feature = "planted-bugs")]
                let bar = bar
                    .filter(|_| !self.planted_is(crate::planted::PlantedBug::FastPathIgnoresReady));
                let next_here = r.home == cpu.id
                    && r.cpu.is_none()
                    && r.queued_on.is_none()
                    && r.fault.is_none()
                    && bar.is_none_or(|b| b < r.priority);
                if !(takes && next_here) {
                    if reply || r.may_receive_from(sender) {
                        return Switched::No;
                    }
                    if info.kind == InvocationKind::Post {
                        let data = self.current_regs(me, |x| x.invocation().data[0]);
                        return if self.queue_post_here(cpu, me, p, target, r, info, data) {
                            Switched::CallerGoesOn
                        } else {
                            Switched::No
                        };
                    }
                    if renotify.is_some_and(|halts| self.watches_fresh(me, halts, r)) {
                        self.would_block_again(cpu, me, p, target, info);
                        return Switched::CallerGoesOn;
                    }
                    return Switched::No;
                }
                // COMMIT POINT (CALL/RETURN): caller and receiver are locked and every
                // precondition holds.
                self.trace_invoked(cpu.id, me, target, info.order);
                let sent = self.current_regs(me, |r| r.invocation().data);
                let n = usize::from(info.data_words);
                #[cfg(feature = "planted-bugs")]
                let n = if self.planted_is(crate::planted::PlantedBug::FastPathDropsWord) {
                    n.saturating_sub(1)
                } else {
                    n
                };
                // Written out rather than `array::from_fn`, which compiled to a `rep movs`
                // copy: each of its iterations is an instruction of the path.
                let word = |i: usize| if i < n { sent[i] } else { 0 };
                let data: [u64; DATA_WORDS] = [word(0), word(1), word(2), word(3)];
                let expired = self.shared(cpu.id).ticks_left.load(Ordering::Relaxed) == 0;
                {
                    p.invocations += 1;
                    match info.kind {
                        InvocationKind::Call => p.state = RunState::Waiting,
                        InvocationKind::Return => p.state = RunState::Available,
                        // The sender goes on, preempted by its receiver: requeued as
                        // `scheduler::decide` would requeue it.
                        InvocationKind::Send | InvocationKind::Post => {
                            self.current_regs(me, |r| r.set_reply(&Reply::default()))
                        }
                    }
                    self.left_cpu(cpu, me, p);
                    if p.state == RunState::Running {
                        p.home = p.affinity.unwrap_or(cpu.id);
                        self.make_ready(
                            cpu,
                            me,
                            p,
                            if expired {
                                Position::Tail
                            } else {
                                Position::Head
                            },
                        );
                    }
                }
                let plain = MessageInfo::new(info.kind, info.order, info.data_words, 0);
                let mut delivered = plain;
                if reply {
                    r.ticket += 1;
                } else {
                    r.senders.used(&self.stall_nodes, sender, false);
                }
                if call {
                    let caps = self.with_regs(cpu.id, t, r, |_, s| s.invocation().caps);
                    let slot = CapWord::unpack(caps).recv[RESUME_RECV_SLOT];
                    r.receive_cap(slot, Cap::resume(me, ticket));
                    delivered.resume = true;
                }
                trace_event!(
                    self,
                    cpu.id,
                    Delivered,
                    t.index,
                    plain.pack(),
                    u64::from(if call {
                        me.index
                    } else {
                        crate::trace::NO_PROCESS
                    })
                );
                Switched::To(self.run_here(
                    cpu,
                    t,
                    r,
                    &Reply {
                        error: 0,
                        badge: if reply { 0 } else { target.badge },
                        info: delivered.pack(),
                        data,
                    },
                ))
            })
            .unwrap_or(Switched::No);
        lock.unlock_write();
        match switched {
            Switched::To(space) => {
                cpu.current = Some(t);
                Fast::Runs(space)
            }
            Switched::CallerGoesOn => Fast::Runs(self.live_space(p)),
            Switched::No => Fast::General,
        }
    }

    /// A POST by `me` (`p`, locked) finds its receiver `r` (locked) busy:
    /// the general path would queue one of `me`'s post activities on `r`'s sender queue and
    /// let `me` go on (`invoke/send.rs::queue_post`), which this does at once. False (nothing
    /// changed) if `me`'s allotment is spent: the general path stalls it or refuses it.
    #[allow(clippy::too_many_arguments)]
    fn queue_post_here(
        &self,
        cpu: &Cpu,
        me: ObjId,
        p: &mut Process,
        target: Cap,
        r: &mut Process,
        info: MessageInfo,
        word: u64,
    ) -> bool {
        let Some(id) = self.posts.next_free(PostSender::Process(me)) else {
            return false;
        };
        let a = Activity {
            target: target.obj,
            badge: target.badge,
            payload: PostPayload {
                order: info.order,
                word: if info.data_words == 0 { 0 } else { word },
            },
            priority: p.priority,
            stamp: self.stamp(),
        };
        // COMMIT POINT (queued POST): both are locked, and the activity is `me`'s alone to
        // take (it takes from its allotment under its own lock).
        self.trace_invoked(cpu.id, me, target, info.order);
        assert!(
            self.posts.take(id, a),
            "{id:?} was taken by another (kernel bug)"
        );
        if let Err(e) = r.senders.stall(&self.stall_nodes, Waiter::Post(id)) {
            panic!("{id:?} cannot queue on its locked recipient: {e:?} (kernel bug)");
        }
        trace_event!(
            self,
            cpu.id,
            PostQueued,
            target.obj.index,
            u64::from(info.order),
            u64::from(me.index)
        );
        p.invocations += 1;
        self.current_regs(me, |x| x.set_reply(&Reply::default()));
        true
    }

    /// A non-blocking CALL or SEND by `me` (locked) finds its receiver (locked) unavailable
    /// again, with `me`'s request on it registered since its last halt: the general path would
    /// register nothing and fail with `WouldBlock` (`notify.rs`), which this does at once.
    fn would_block_again(
        &self,
        cpu: &Cpu,
        me: ObjId,
        p: &mut Process,
        target: Cap,
        info: MessageInfo,
    ) {
        // COMMIT POINT (WouldBlock): both are locked, the request is in place, and only the
        // caller's reply registers and invocation count change.
        self.trace_invoked(cpu.id, me, target, info.order);
        trace_event!(
            self,
            cpu.id,
            WouldBlock,
            me.index,
            u64::from(target.obj.index),
            0
        );
        p.invocations += 1;
        self.current_regs(me, |r| {
            r.set_reply(&Reply {
                error: Error::WouldBlock.raw(),
                ..Reply::default()
            })
        });
    }

    /// `r` (process `t`) becomes the process running here, as `dispatch` would make it: a
    /// fresh quantum, and `reply` in its registers. Returns its live address space.
    #[inline]
    fn run_here(&self, cpu: &Cpu, t: ObjId, r: &mut Process, reply: &Reply) -> Option<ObjId> {
        self.with_regs(cpu.id, t, r, |_, s| s.set_reply(reply));
        r.state = RunState::Running;
        self.become_current(cpu.id, r);
        self.live_space(r)
    }
}
