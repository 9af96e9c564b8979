//! Non-blocking invocations and their notification requests (seed 000, section 8: SVC
//! notification; the ABI is in `tessera_abi::message::MessageInfo`).
//!
//! A CALL, SEND or POST with the NONBLOCKING flag that would stall the caller (`invoke/send.rs`)
//! comes here instead, still in its prepare phase, holding the lock under which it found the
//! condition: the target's for CALL and SEND, the caller's own for POST (only the caller takes
//! from its allotment; a freed activity reaches it through one atomic word). It registers a
//! request under that same lock, so a condition that clears after the check is seen by the
//! path that clears it, which fires the request: no wake-up is lost. Then it fails with
//! `WouldBlock`; nothing else changed.
//!
//! A request is one of the caller's notification activities (`post.rs`, `Sender::Notify`),
//! taken at registration with the POST that will notify it (to the caller's `SET_NOTIFY`
//! endpoint and word), so a request needs no memory beyond what its process paid for, and a
//! hostile flood of non-blocking calls takes at most `NOTIFY_REQUESTS` of them per process,
//! each busy until its notification is delivered. While registered it is linked, through its
//! activity's stall node, into the watched process's `watchers` list, or named by the
//! `WATCHED` bit of the caller's allotment word. Firing takes it off (exactly once: under the
//! watched process's lock, or by the atomic that clears the bit) and, at kernel exit, posts it
//! like any kernel POST: delivered if the endpoint's process is available, else queued on its
//! sender queue, where it is delivered and freed in order.
//!
//! # What fires a request
//! - A watched process becomes available (`Kernel::offer`: it waits again, is resumed into an
//!   open wait, or the owner of its queue passes it on): every request registered before then.
//! - An activity of a watched allotment is delivered or freed (`Kernel::deliver_post`, and the
//!   destroy of the process it was queued on).
//! - A watched process is destroyed: every request on it, so nobody waits forever.
//!
//! # Dropped, not posted
//! - Requests of a requester destroyed or halted since it registered them (its generation or
//!   `halts` count changed), when they fire.
//! - Requests whose endpoint's process is gone.
//!
//! Until then a stale request keeps its activity. One on the object a resumed requester tries
//! again becomes that try's request (`renew_if_stale`): the try would otherwise find it, register
//! nothing and never be notified.
//!
//! # Locks
//! `Requests` holds, by activity, who registered it and what it watches: one leaf lock per
//! record (level 8, like an activity's contents), written by the requester under its own lock
//! and read for one copy.

use alloc::boxed::Box;
use spin::mutex::SpinMutex;
use tessera_abi::message::Reply;
use tessera_abi::post::{PostPayload, NOTIFIED};
use tessera_abi::{CapType, Error};

use crate::cap::{Cap, ObjId};
use crate::cpu::{Cpu, Deferred};
use crate::invoke::object::{KReply, OrderResult};
use crate::invoke::{Caller, Msg};
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::process::{Process, RunState, Watcher};
use crate::outcome::Next;
use crate::platform::{Platform, SaveArea};
use crate::post::{Activity, PostId, Sender, WaitOutcome};
use crate::stall_queue::Owner;
use crate::sync::Restart;

/// What a notification request waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Watched {
    /// This process to become available (CALL or SEND found it busy or its queue taken).
    Process(ObjId),
    /// An activity of the requester's own post allotment to be freed (POST found none).
    Allotment,
}

/// Who registered a request, and what it watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub requester: ObjId,
    /// The requester's halt count when it registered: a halt since drops the request.
    pub halts: u64,
    pub watched: Watched,
}

/// The record of every notification activity, by activity (see the file header).
pub(crate) struct Requests {
    records: Box<[SpinMutex<Option<Request>>]>,
}

impl Requests {
    /// Records for `activities` activities.
    pub(crate) fn new(activities: usize) -> Requests {
        Requests {
            records: (0..activities).map(|_| SpinMutex::new(None)).collect(),
        }
    }

    /// The latest request made with activity `id`.
    pub(crate) fn get(&self, id: PostId) -> Option<Request> {
        *self.records.get(id.0 as usize)?.lock()
    }

    fn set(&self, id: PostId, r: Request) {
        if let Some(slot) = self.records.get(id.0 as usize) {
            *slot.lock() = Some(r);
        }
    }
}

impl<P: Platform> Kernel<P> {
    /// SET_NOTIFY: `c0` and `d0` become where `v`'s notifications go (Null, or a dead
    /// endpoint, clears it). Requests registered already keep theirs.
    pub(crate) fn set_notify(&self, cpu: &mut Cpu, v: ObjId, msg: &Msg) -> OrderResult {
        let arg = msg.caps[0];
        let endpoint = match arg.ty {
            CapType::Endpoint if self.is_live(&arg) => arg,
            CapType::Endpoint | CapType::Null => Cap::NULL,
            _ => return Err(Error::WrongType.into()),
        };
        cpu.held.write(self, LockKey::process(v.index))?;
        // COMMIT POINT: the process is locked and the argument checked.
        let done = self.processes.write(v, |p| {
            p.notify = endpoint;
            p.notify_word = msg.data[0];
        });
        done.map(|()| KReply::default())
            .ok_or(Error::NullCapability.into())
    }

    /// A non-blocking invocation found `watched` not ready; its lock (and the caller's) is
    /// held. Registers a request unless one of the caller's watches it already, and fails
    /// with `WouldBlock` (`OutOfQuota` if every request of the caller is in use).
    pub(crate) fn would_block(
        &self,
        cpu: &mut Cpu,
        caller: &Caller,
        watched: Watched,
    ) -> Result<Next, Restart> {
        let me = caller.id;
        #[cfg(feature = "planted-bugs")]
        if let Watched::Process(t) = watched {
            if self.planted_is(crate::planted::PlantedBug::RegisterUnlocked) {
                cpu.held.release_all(self);
                cpu.held.write(self, LockKey::process(me.index))?;
                cpu.held.write(self, LockKey::process(t.index))?;
            }
        }
        let Some((endpoint, word, halts, priority)) = self
            .processes
            .read(me, |p| (p.notify, p.notify_word, p.halts, p.priority))
        else {
            return Ok(Next::Exit);
        };
        if !self.is_live(&endpoint) {
            self.would_block_reply(cpu, caller, watched, false);
            return Ok(Next::Exit);
        }
        if let Some(id) = self.request_on(me, watched) {
            let renewed = self.renew_if_stale(me, halts, watched, id)?;
            self.would_block_reply(cpu, caller, watched, renewed);
            return Ok(Next::Exit);
        }
        let Some(id) = self.posts.next_free(Sender::Notify(me)) else {
            return self.refused(cpu, caller, Error::OutOfQuota);
        };
        let a = Activity {
            target: endpoint.obj,
            badge: endpoint.badge,
            payload: PostPayload {
                order: NOTIFIED,
                word,
            },
            priority,
            stamp: self.stamp(),
        };
        // Reserved: only the caller takes from its notification allotment, under its lock.
        assert!(
            self.posts.take(id, a),
            "{id:?} was taken by another (kernel bug)"
        );
        self.requests.set(
            id,
            Request {
                requester: me,
                halts,
                watched,
            },
        );
        match watched {
            Watched::Process(t) => {
                // COMMIT POINT: the watched process is locked and was found not ready.
                let w = Watcher {
                    id,
                    generation: me.generation,
                };
                let linked = self
                    .processes
                    .write(t, |tp| tp.watchers.wait(&self.stall_nodes, w));
                if linked != Some(Ok(())) {
                    panic!("{id:?} cannot watch its locked {t:?}: {linked:?} (kernel bug)");
                }
            }
            Watched::Allotment => match self.posts.watch(me, id) {
                // COMMIT POINT: the allotment was still spent when the watch was set.
                WaitOutcome::Waiting => {}
                // An activity was freed since the caller looked: the reservation goes back
                // and the POST re-runs, taking it.
                WaitOutcome::FreeNow | WaitOutcome::Refused => {
                    self.posts.release(id);
                    return Err(Restart);
                }
            },
        }
        self.would_block_reply(cpu, caller, watched, true);
        Ok(Next::Exit)
    }

    /// Ends the path with `WouldBlock`; `d0` says whether this call registered a request.
    fn would_block_reply(
        &self,
        cpu: &mut Cpu,
        caller: &Caller,
        watched: Watched,
        registered: bool,
    ) {
        #[cfg(feature = "trace")]
        {
            let on = match watched {
                Watched::Process(t) => t.index,
                Watched::Allotment => crate::trace::NO_PROCESS,
            };
            trace_event!(
                self,
                cpu.id,
                WouldBlock,
                caller.id.index,
                u64::from(on),
                u64::from(registered)
            );
        }
        #[cfg(not(feature = "trace"))]
        let _ = watched;
        // COMMIT POINT (refusal): only the caller's reply registers change.
        self.finish(cpu, caller, |_, regs| {
            regs.set_reply(&Reply {
                error: Error::WouldBlock.raw(),
                data: [u64::from(registered), 0, 0, 0],
                ..Reply::default()
            });
        });
    }

    /// Whether `me`'s request on `t` (locked) is registered, and since `me`'s last halt
    /// (`halts`): a non-blocking retry then registers nothing (the fast path's check).
    pub(crate) fn watches_fresh(&self, me: ObjId, halts: u64, t: &Process) -> bool {
        self.posts.requests_of(me).any(|id| {
            let w = Watcher {
                id,
                generation: me.generation,
            };
            t.watchers.contains(&self.stall_nodes, w)
                && self.requests.get(id).is_some_and(|r| r.halts == halts)
        })
    }

    /// The registered request of `me` that watches `watched` (whose holder is locked), if any.
    fn request_on(&self, me: ObjId, watched: Watched) -> Option<PostId> {
        match watched {
            Watched::Allotment if self.posts.is_watched(me) => self
                .posts
                .watches()
                .find(|w| self.posts.requests_of(me).any(|id| id == *w)),
            Watched::Allotment => None,
            // No record is read: a request linked on `t` with `me`'s generation is `me`'s.
            Watched::Process(t) => self
                .processes
                .read(t, |tp| {
                    self.posts.requests_of(me).find(|&id| {
                        let w = Watcher {
                            id,
                            generation: me.generation,
                        };
                        tp.watchers.contains(&self.stall_nodes, w)
                    })
                })
                .flatten(),
        }
    }

    /// `me`'s request `id` watches `watched` already. If it was registered before a halt of
    /// `me` (its `halts` is not `halts`), it would be dropped when it fires, and this call,
    /// told it registered nothing, would wait for nothing: the request becomes this call's
    /// instead (true). It keeps its endpoint and word, like any request already registered.
    fn renew_if_stale(
        &self,
        me: ObjId,
        halts: u64,
        watched: Watched,
        id: PostId,
    ) -> Result<bool, Restart> {
        if self.requests.get(id).is_none_or(|r| r.halts == halts) {
            return Ok(false);
        }
        let renewed = Request {
            requester: me,
            halts,
            watched,
        };
        match watched {
            // COMMIT POINT: `t` is locked, so nobody takes the request off its list meanwhile.
            Watched::Process(_) => self.requests.set(id, renewed),
            Watched::Allotment => {
                // The watch is ended while the record changes, so a freed activity either
                // fires the renewed request or is found free by the re-run. Ending a stale
                // watch changes nothing its owner could see (it would be dropped when fired),
                // so a restart after it leaves no trace.
                if self.posts.unwatch(me) != Some(id) {
                    return Err(Restart);
                }
                self.requests.set(id, renewed);
                match self.posts.watch(me, id) {
                    // COMMIT POINT: the allotment was still spent when the watch was set again.
                    WaitOutcome::Waiting => {}
                    WaitOutcome::FreeNow | WaitOutcome::Refused => {
                        self.posts.release(id);
                        return Err(Restart);
                    }
                }
            }
        }
        Ok(true)
    }

    /// `t` (locked) became available: its requests are posted at this CPU's exit. One record
    /// however many there are; those registered after this moment found it busy again and
    /// wait for the next time.
    #[inline]
    pub(crate) fn fire_watchers(&self, cpu: &mut Cpu, t_id: ObjId, t: &Process) {
        #[cfg(feature = "planted-bugs")]
        if self.planted_is(crate::planted::PlantedBug::LoseNotification) {
            return;
        }
        if !t.watchers.is_empty() {
            cpu.deferred.push_back(Deferred::Notify {
                object: t_id,
                upto: self.stamp(),
            });
        }
    }

    /// `t` (locked) is being destroyed: every request on it fires (the caller reserved a
    /// deferred record for each).
    pub(crate) fn fire_all_watchers(&self, cpu: &mut Cpu, t: &mut Process) {
        while let Some(w) = t.watchers.take_one(&self.stall_nodes) {
            cpu.deferred.push_back(Deferred::Fire(w.id));
        }
    }

    /// Exit-time work of `Deferred::Notify`.
    pub(crate) fn notify_watchers(&self, cpu: &mut Cpu, t: ObjId, upto: u64) {
        while let Some(id) = self.retry(cpu, |k, cpu| k.next_watcher(cpu, t, upto)) {
            self.retry(cpu, |k, cpu| k.post_notification(cpu, id));
        }
    }

    /// Takes the oldest request on `t` if it was registered before `upto`.
    fn next_watcher(&self, cpu: &mut Cpu, t: ObjId, upto: u64) -> Result<Option<PostId>, Restart> {
        cpu.held.write(self, LockKey::process(t.index))?;
        // COMMIT POINT: one lock; the request taken off is posted by the next step.
        Ok(self
            .processes
            .write(t, |p| {
                let head = p.watchers.waiters(&self.stall_nodes).next()?;
                let before = self.posts.get(head.id).is_some_and(|a| a.stamp < upto);
                before
                    .then(|| p.watchers.take_one(&self.stall_nodes))
                    .flatten()
                    .map(|w| w.id)
            })
            .flatten())
    }

    /// Posts fired request `id` (in no list now) to its endpoint, or drops it (file header).
    pub(crate) fn post_notification(&self, cpu: &mut Cpu, id: PostId) -> Result<(), Restart> {
        let (Some(r), Some(a)) = (self.requests.get(id), self.posts.get(id)) else {
            return Ok(());
        };
        let t = a.target;
        let (lo, hi) = if r.requester.index <= t.index {
            (r.requester.index, t.index)
        } else {
            (t.index, r.requester.index)
        };
        cpu.held.write(self, LockKey::process(lo))?;
        if hi != lo {
            cpu.held.write(self, LockKey::process(hi))?;
        }
        let current = self.processes.read(r.requester, |p| p.halts == r.halts) == Some(true);
        let ready = self.processes.read(t, |p| {
            p.state == RunState::Available
                && p.senders.is_empty()
                && p.senders.owner() == Owner::Resource
        });
        // COMMIT POINT: requester and recipient are locked.
        match ready {
            Some(ready) if current => {
                trace_event!(
                    self,
                    cpu.id,
                    Notified,
                    r.requester.index,
                    u64::from(t.index),
                    1
                );
                if ready {
                    self.processes
                        .write(t, |p| self.deliver_post(cpu, t, p, id));
                    return Ok(());
                }
                self.posts.restamp(id, self.stamp());
                self.queue_activity(t, id);
                trace_event!(
                    self,
                    cpu.id,
                    PostQueued,
                    t.index,
                    u64::from(NOTIFIED),
                    u64::from(r.requester.index)
                );
            }
            _ => {
                trace_event!(
                    self,
                    cpu.id,
                    Notified,
                    r.requester.index,
                    u64::from(t.index),
                    0
                );
                self.posts.release(id);
            }
        }
        Ok(())
    }
}
