//! `Kernel::check_invariants`: the kernel-wide invariants, checked between kernel entries by
//! the simulator after every step and by tests.
//!
//! Checked: each process is in at most one queue (run queues and stall queues together), and
//! in the one its state names; stall queues are FIFO by arrival stamp and their owners are
//! running processes that know it; every post activity in use is queued on its live target
//! exactly once; banks balance; every page's reverse map matches the records that map it; an
//! alarm is armed exactly when its CPU's alarm queue holds it, with its deadline; a pinned
//! process is queued only on its CPU and runs elsewhere only until that CPU reschedules; no
//! lock is held and no deferred work is left on any CPU.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::cap::ObjId;
use crate::cpu::Cpu;
use crate::kernel::Kernel;
use crate::notify::Watched;
use crate::object::process::{QueueRef, RunState, Waiter};
use crate::platform::Platform;
use crate::post::{PostId, Sender};
use crate::stall_queue::Owner;
use crate::sync::atomic::Ordering;
use tessera_abi::post::NOTIFIED;

impl<P: Platform> Kernel<P> {
    /// Checks every invariant; `cpus` are all the CPUs' private states, outside the kernel.
    pub fn check_invariants(&self, cpus: &[Cpu]) -> Result<(), String> {
        self.check_locks(cpus)?;
        let mut seen: BTreeMap<ObjId, &'static str> = BTreeMap::new();
        let mut note = |id: ObjId, place: &'static str| match seen.insert(id, place) {
            Some(before) => Err(format!("{id:?} is in two queues: {before} and {place}")),
            None => Ok(()),
        };
        for c in self.cpu_ids() {
            let rq = self.shared(c).run.lock();
            rq.check_invariants()
                .map_err(|v| format!("run queue of {c:?}: {v:?}"))?;
            if rq.post_levels() != self.shared(c).posts.lock().levels() {
                return Err(format!(
                    "{c:?}'s run queue does not see its ready post activities"
                ));
            }
            for id in self.processes.live_ids() {
                if rq.priority_of(id).is_some() {
                    note(id, "a run queue")?;
                    if self.processes.read(id, |p| p.queued_on) != Some(Some(c)) {
                        return Err(format!(
                            "{id:?} is on {c:?}'s run queue but does not know it"
                        ));
                    }
                }
            }
        }
        let pool = self.posts.waiters().collect::<Vec<_>>();
        for s in &pool {
            note(s.id, "the post pool's queue")?;
            self.expect_stalled(s.id, QueueRef::PostPool)?;
            if self.posts.next_free(Sender::Process(s.id)).is_some() {
                return Err(format!(
                    "{:?} waits for a post activity but has one free",
                    s.id
                ));
            }
        }
        let mut queued_posts = 0;
        let mut owning_posts = 0;
        let mut registered = 0;
        let mut queued_nodes = 0;
        for id in self.processes.live_ids() {
            let Some(leaving) = self.processes.read(id, |p| {
                p.leaving
                    .check_invariants(&self.stall_nodes)
                    .map_err(|v| format!("{id:?}'s leaving queue: {v:?}"))?;
                if !p.leaving.is_empty() && p.cpu.is_none() {
                    return Err(format!(
                        "{id:?} left its CPU but its leaving queue still waits"
                    ));
                }
                Ok(p.leaving.waiters(&self.stall_nodes).collect::<Vec<_>>())
            }) else {
                continue;
            };
            for s in leaving? {
                queued_nodes += 1;
                note(s.id, "a leaving queue")?;
                self.expect_stalled(s.id, QueueRef::Leaving(id))?;
            }
            let Some(found) = self.processes.read(id, |p| {
                p.senders
                    .check_invariants(&self.stall_nodes)
                    .map_err(|v| format!("{id:?}'s sender queue: {v:?}"))?;
                Ok::<_, String>((
                    p.senders.waiters(&self.stall_nodes).collect::<Vec<_>>(),
                    p.senders.owner(),
                ))
            }) else {
                continue;
            };
            let (waiters, owner) = found?;
            queued_nodes += waiters.len();
            let stamps = waiters.iter().map(|w| match w {
                Waiter::Process(s) => s.seq,
                Waiter::Post(i) => self.posts.get(*i).map_or(0, |a| a.stamp),
            });
            check_fifo("a sender queue", stamps)?;
            for w in &waiters {
                match w {
                    Waiter::Process(s) => {
                        note(s.id, "a sender queue")?;
                        self.expect_stalled(s.id, QueueRef::Senders(id))?;
                    }
                    Waiter::Post(i) => {
                        queued_posts += 1;
                        if self.posts.get(*i).map(|a| a.target) != Some(id) {
                            return Err(format!(
                                "post {i:?} queued on {id:?} is not addressed to it"
                            ));
                        }
                    }
                }
            }
            match owner {
                Owner::Process(Waiter::Process(s)) => {
                    self.expect_owner(s.id, QueueRef::Senders(id))?;
                }
                Owner::Process(Waiter::Post(i)) => {
                    owning_posts += 1;
                    self.expect_ready_post(i, id)?;
                }
                Owner::Resource => {}
            }
            let watchers = self.processes.read(id, |p| {
                p.watchers
                    .check_invariants(&self.stall_nodes)
                    .map_err(|v| format!("{id:?}'s watchers: {v:?}"))?;
                Ok::<_, String>(p.watchers.waiters(&self.stall_nodes).collect::<Vec<_>>())
            });
            for r in watchers.unwrap_or(Ok(Vec::new()))? {
                queued_nodes += 1;
                registered += 1;
                self.expect_request(r.id, Watched::Process(id))?;
                if self.requests.get(r.id).map(|q| q.requester.generation) != Some(r.generation) {
                    return Err(format!("request {r:?} on {id:?} names another requester"));
                }
            }
        }
        for r in self.posts.watches() {
            registered += 1;
            self.expect_request(r, Watched::Allotment)?;
        }
        let marked = self.stall_nodes.queued();
        if marked != queued_nodes {
            return Err(format!(
                "{marked} stall nodes say they are queued but {queued_nodes} are in live queues"
            ));
        }
        let in_use = self.posts.in_use().count();
        if let Some((i, _)) = self.posts.in_use().find(|(i, _)| self.posts.is_free(*i)) {
            return Err(format!(
                "post {i:?} holds a POST but its allotment says it is free"
            ));
        }
        if in_use != queued_posts + owning_posts + registered {
            return Err(format!(
                "{in_use} post activities in use but {queued_posts} queued, {owning_posts} owning a queue and {registered} notification requests registered"
            ));
        }
        let ready_posts: usize = self
            .cpu_ids()
            .map(|c| self.shared(c).ready_posts.load(Ordering::Acquire) as usize)
            .sum();
        if ready_posts > owning_posts {
            return Err(format!(
                "{ready_posts} post activities ready but only {owning_posts} own a queue"
            ));
        }
        for id in self.processes.live_ids() {
            self.check_process(id, cpus, seen.get(&id).copied())?;
        }
        self.check_banks()?;
        self.check_alarms()?;
        self.check_reverse_maps()
    }

    /// Notification request `r` is registered on `watched`: it holds its notification, and its
    /// record says so.
    /// Post activity `i` owns `t`'s sender queue: it is addressed to `t` and waits in at most
    /// one post run queue (none while the CPU that picked it runs it), whose count is right.
    fn expect_ready_post(&self, i: PostId, t: ObjId) -> Result<(), String> {
        if self.posts.get(i).map(|a| a.target) != Some(t) {
            return Err(format!(
                "post {i:?} owns {t:?}'s queue but is not addressed to it"
            ));
        }
        let mut queued = 0;
        for c in self.cpu_ids() {
            let shared = self.shared(c);
            let q = shared.posts.lock();
            q.check_invariants()
                .map_err(|v| format!("post run queue of {c:?}: {v:?}"))?;
            if q.len() != shared.ready_posts.load(Ordering::Acquire) as usize {
                return Err(format!("{c:?}'s count of ready post activities is wrong"));
            }
            queued += usize::from(q.priority_of(i).is_some());
        }
        if queued > 1 {
            return Err(format!("post {i:?} is ready on {queued} CPUs"));
        }
        Ok(())
    }

    fn expect_request(&self, r: PostId, watched: Watched) -> Result<(), String> {
        let posts_notified = self.posts.get(r).map(|a| a.payload.order) == Some(NOTIFIED);
        let record = self.requests.get(r).map(|q| q.watched);
        if !posts_notified || record != Some(watched) {
            return Err(format!("request {r:?} watches {watched:?} but holds {record:?}, notification {posts_notified}"));
        }
        Ok(())
    }

    /// A pinned process is queued only on its CPU, and current elsewhere only while that CPU
    /// has a reschedule pending (its affinity just changed; it moves at that CPU's exit).
    fn check_affinity(&self, id: ObjId) -> Result<(), String> {
        let Some((affinity, home, on_cpu, queued_on)) = self
            .processes
            .read(id, |p| (p.affinity, p.home, p.cpu, p.queued_on))
        else {
            return Ok(());
        };
        let Some(a) = affinity else {
            return Ok(());
        };
        if home != a || queued_on.is_some_and(|q| q != a) {
            return Err(format!(
                "{id:?} is pinned to {a:?} but homed on {home:?}, queued on {queued_on:?}"
            ));
        }
        if let Some(c) = on_cpu.filter(|&c| c != a) {
            if !self
                .shared(c)
                .need_resched
                .load(crate::sync::atomic::Ordering::Acquire)
            {
                return Err(format!(
                    "{id:?} is pinned to {a:?} but runs on {c:?}, which will not move it"
                ));
            }
        }
        Ok(())
    }

    fn check_alarms(&self) -> Result<(), String> {
        let mut queued = 0;
        for c in self.cpu_ids() {
            let shared = self.shared(c);
            let q = shared.alarms.lock();
            q.check_invariants()
                .map_err(|v| format!("alarm queue of {c:?}: {v:?}"))?;
            let next = q.first().map_or(u64::MAX, |(_, d)| d);
            if shared
                .next_alarm
                .load(crate::sync::atomic::Ordering::Acquire)
                != next
            {
                return Err(format!("{c:?}'s next alarm is not its queue's first"));
            }
            queued += q.len();
        }
        let mut armed = 0;
        for id in self.alarms.live_ids() {
            let Some(Some(a)) = self.alarms.read(id, |al| al.armed) else {
                continue;
            };
            armed += 1;
            let there = self.shared(a.cpu).alarms.lock().deadline_of(id.index);
            if there != Some(a.deadline) {
                return Err(format!(
                    "{id:?} is armed for {} on {:?} but queued for {there:?}",
                    a.deadline, a.cpu
                ));
            }
        }
        if armed != queued {
            return Err(format!("{armed} alarms armed but {queued} queued"));
        }
        Ok(())
    }

    fn check_locks(&self, cpus: &[Cpu]) -> Result<(), String> {
        for c in cpus {
            if c.held_locks() != 0 || c.deferred_wakes() != 0 {
                return Err(format!(
                    "{:?} holds locks or deferred work outside the kernel",
                    c.id
                ));
            }
        }
        let free = |l: &crate::sync::MrowLock| l.is_free();
        let all_free = (0..self.processes.capacity() as u32).all(|i| free(self.processes.lock(i)))
            && (0..self.banks.capacity() as u32).all(|i| free(self.banks.lock(i)))
            && (0..self.pages.capacity() as u32).all(|i| free(self.pages.lock(i)))
            && (0..self.spaces.capacity() as u32).all(|i| free(self.spaces.lock(i)))
            && (0..self.cap_pages.capacity() as u32).all(|i| free(self.cap_pages.lock(i)))
            && (0..self.alarms.capacity() as u32).all(|i| free(self.alarms.lock(i)))
            && self.irqs.iter().all(|g| free(g.lock()));
        if all_free {
            Ok(())
        } else {
            Err(String::from("an object lock is held outside the kernel"))
        }
    }

    fn expect_stalled(&self, id: ObjId, q: QueueRef) -> Result<(), String> {
        match self.processes.read(id, |p| p.state) {
            Some(RunState::Stalled(s)) if s == q => Ok(()),
            other => Err(format!("{id:?} waits on {q:?} but its state is {other:?}")),
        }
    }

    fn expect_owner(&self, id: ObjId, q: QueueRef) -> Result<(), String> {
        match self.processes.read(id, |p| (p.state, p.owns)) {
            None => Ok(()),
            Some((RunState::Running, Some(o))) if o == q => Ok(()),
            Some(other) => Err(format!(
                "{id:?} owns {q:?} but its (state, owns) is {other:?}"
            )),
        }
    }

    fn check_process(&self, id: ObjId, cpus: &[Cpu], queued: Option<&str>) -> Result<(), String> {
        let Some((state, restart, on_cpu, queued_on, owns)) = self
            .processes
            .read(id, |p| (p.state, p.restart, p.cpu, p.queued_on, p.owns))
        else {
            return Ok(());
        };
        let current = cpus.iter().filter(|c| c.current == Some(id)).count();
        if current > 1 || (current == 1) != on_cpu.is_some() {
            return Err(format!(
                "{id:?} is current on {current} CPUs but thinks {on_cpu:?}"
            ));
        }
        let on_run_queue = queued == Some("a run queue");
        let ok = match state {
            RunState::Running => on_run_queue != on_cpu.is_some() && !(restart && on_cpu.is_some()),
            RunState::Stalled(_) => queued.is_some() && !on_run_queue && on_cpu.is_none(),
            RunState::Halted(_) => queued.is_none() && queued_on.is_none(),
            RunState::Available | RunState::Waiting => queued.is_none() && on_cpu.is_none(),
        };
        if let Some(q) = owns {
            let owner = match q {
                QueueRef::Senders(t) => self.processes.read(t, |tp| {
                    matches!(tp.senders.owner(), Owner::Process(Waiter::Process(s)) if s.id == id)
                }),
                // Nobody owns the pool's queue or a wake-all queue.
                QueueRef::PostPool | QueueRef::Leaving(_) => Some(false),
            };
            if owner == Some(false) {
                return Err(format!(
                    "{id:?} believes it owns {q:?} but the queue has another owner"
                ));
            }
        }
        self.check_affinity(id)?;
        if !ok || (owns.is_some() && state != RunState::Running) {
            return Err(format!(
                "{id:?} in state {state:?} (restart {restart}, cpu {on_cpu:?}, owns {owns:?}) is in {queued:?}"
            ));
        }
        Ok(())
    }

    fn check_banks(&self) -> Result<(), String> {
        let mut charged: BTreeMap<ObjId, (u64, u64)> = BTreeMap::new();
        let mut add = |bank: ObjId, units: u64| {
            let e = charged.entry(bank).or_default();
            e.0 += units;
            e.1 += 1;
        };
        self.processes
            .live_ids()
            .for_each(|i| self.processes.read(i, |p| add(p.bank, 1)).unwrap_or(()));
        self.pages
            .live_ids()
            .for_each(|i| self.pages.read(i, |p| add(p.bank, 1)).unwrap_or(()));
        self.spaces.live_ids().for_each(|i| {
            self.spaces
                .read(i, |s| add(s.bank, 1 + s.charged))
                .unwrap_or(())
        });
        self.cap_pages
            .live_ids()
            .for_each(|i| self.cap_pages.read(i, |p| add(p.bank, 1)).unwrap_or(()));
        self.alarms
            .live_ids()
            .for_each(|i| self.alarms.read(i, |a| add(a.bank, 1)).unwrap_or(()));
        for i in self.banks.live_ids().collect::<Vec<_>>() {
            if let Some((Some(parent), quota)) = self.banks.read(i, |b| (b.parent, b.quota)) {
                add(parent, quota + 1);
            }
        }
        for i in self.banks.live_ids() {
            let b = self.banks.read(i, |b| b.clone()).ok_or("bank vanished")?;
            let (used, objects) = charged.get(&i).copied().unwrap_or_default();
            if b.used != used || b.objects != objects || b.used > b.quota {
                return Err(format!(
                    "bank {i:?} says {b:?} but its live objects cost {used} in {objects}"
                ));
            }
        }
        Ok(())
    }
}

fn check_fifo(what: &str, stamps: impl Iterator<Item = u64>) -> Result<(), String> {
    let mut last = 0;
    for s in stamps {
        if s <= last {
            return Err(format!("{what} is out of FIFO order"));
        }
        last = s;
    }
    Ok(())
}
