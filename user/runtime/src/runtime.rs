//! A task's runtime: its virtual processors, the chore index counter, the stack provider and
//! how an idle VP waits. `run_vp` is a VP's main loop: its listener duties, then its own run
//! queue, then stealing from the others, and idling only when nothing is runnable.
//!
//! Guarantees: `run_vp(i)` returns once no chore of the task is alive and no remote action is
//! pending; each VP index is run by at most one thread at a time.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::chore::{Chore, ChoreInfo, ChoreRef, ChoreState};
use crate::ctx::{below, chore_main, closure_at, entry_for, result_slot_at, Ctx, ResultSlot};
use crate::id::{ChoreId, TaskId};
use crate::kind::{Kind, Listener, Ordinary};
use crate::notify::Notifications;
use crate::stack::{PoolConfig, StackPool, StackProvider, CHUNK_LINK_BYTES};
use crate::switch::initial_frame;
use crate::sync::atomic::{fence, AtomicUsize, Ordering};
use crate::vp::{NoteLook, Vp};
use crate::wait::{check_no_spin_held, Suspend};

/// How an idle VP waits for work, how it is told work arrived, and the clock sleeps are
/// measured on: on the host, a thread park or a spin; in ring 3, waiting in the kernel for the
/// VP's notification POST, with a kernel alarm for the deadline.
pub trait Idle: Send + Sync {
    /// Waits until `notify(vp)`, until `deadline` (ns on `now_ns`'s clock) if one is given, or
    /// until a notification word arrives (returned, for `Runtime::deliver`). May return early.
    fn idle(&self, vp: usize, deadline: Option<u64>) -> Option<u64>;
    fn notify(&self, vp: usize);
    /// Nanoseconds on a clock that never goes back.
    fn now_ns(&self) -> u64;
    /// Hands `deliver` every notification word that reached VP `vp` while it ran, without
    /// waiting for more: a VP kept busy by its chores never idles, so a chore waiting for a
    /// notification would wait as long (`Vp::listen` asks, every `NOTE_POLL_NS`, while one
    /// does). Where a notification does not wait for the VP to idle, nothing to do.
    fn poll(&self, _vp: usize, _deliver: &mut dyn FnMut(u64)) {}
}

/// Spins: right for a VP that owns its CPU.
#[derive(Debug)]
pub struct SpinIdle {
    pub clock: fn() -> u64,
}

impl Idle for SpinIdle {
    fn idle(&self, _vp: usize, _deadline: Option<u64>) -> Option<u64> {
        crate::sync::atomic::spin_loop();
        None
    }
    fn notify(&self, _vp: usize) {}
    fn now_ns(&self) -> u64 {
        (self.clock)()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub task: TaskId,
    pub vps: usize,
    pub pool: PoolConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// No stack chunk: the pool, its refill and the emergency reserve all came up empty.
    NoStack,
    /// The task has used every chore index.
    NoIndex,
    /// The closure and its result would take more than a quarter of a stack chunk (they live
    /// in the chore's chunk, above its stack).
    TooLarge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    NoVps,
    /// The provider could not fill the VPs' emergency reserves.
    NoReserve,
}

pub(crate) struct Shared {
    task: TaskId,
    pub(crate) vps: Box<[Vp]>,
    next_index: AtomicUsize,
    /// Chores not yet exited plus remote actions not yet run.
    live: AtomicUsize,
    provider: Box<dyn StackProvider>,
    pub(crate) idle: Box<dyn Idle>,
    pub(crate) notes: Notifications,
    /// Per VP: its look for notifications while busy.
    pub(crate) looks: Box<[NoteLook]>,
}

#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Runtime(task {}, {} VPs)",
            self.shared.task.get(),
            self.shared.vps.len()
        )
    }
}

/// Where the control block of the chore using the chunk whose top is `top` sits: just below
/// the chunk's link word (`CHUNK_LINK_BYTES`).
#[inline(always)]
fn chore_place(top: usize) -> *const Chore {
    below(
        top - CHUNK_LINK_BYTES,
        size_of::<Chore>(),
        align_of::<Chore>(),
    ) as *const Chore
}

/// Listener chores take indices 1..=vps; chores count on from there (index 0 is never used).
fn listener_index(vp: usize) -> u32 {
    vp as u32 + 1
}

impl Runtime {
    pub fn new(
        config: Config,
        provider: Box<dyn StackProvider>,
        idle: Box<dyn Idle>,
    ) -> Result<Runtime, StartError> {
        if config.vps == 0 {
            return Err(StartError::NoVps);
        }
        let mut pools = Vec::with_capacity(config.vps);
        for _ in 0..config.vps {
            let mut pool = StackPool::new(config.pool);
            if !pool.prime(&*provider) {
                return Err(StartError::NoReserve);
            }
            pools.push(pool);
        }
        let shared = Arc::new_cyclic(|weak: &Weak<Shared>| {
            let me = weak.as_ptr();
            let vps: Box<[Vp]> = pools
                .into_iter()
                .enumerate()
                .map(|(i, pool)| {
                    let id = ChoreId::new(config.task, listener_index(i));
                    let listener = Chore::listener(me, id);
                    Vp::new(i, config.vps == 1, listener, pool)
                })
                .collect();
            // In the slice's final place: the listeners may point at their VPs now.
            for vp in vps.iter() {
                vp.listener
                    .vp
                    .store(vp as *const Vp as *mut Vp, Ordering::Relaxed);
            }
            Shared {
                task: config.task,
                vps,
                next_index: AtomicUsize::new(listener_index(config.vps) as usize),
                live: AtomicUsize::new(0),
                provider,
                idle,
                notes: Notifications::new(),
                looks: (0..config.vps).map(|_| NoteLook::default()).collect(),
            }
        });
        Ok(Runtime { shared })
    }

    pub fn task(&self) -> TaskId {
        self.shared.task
    }

    pub fn vps(&self) -> usize {
        self.shared.vps.len()
    }

    /// Chores alive (spawned, not yet exited) plus remote actions not yet run.
    pub fn live(&self) -> usize {
        self.shared.live.load(Ordering::Acquire)
    }

    /// Starts an ordinary chore on VP `vp` from outside the runtime (the task's first chore).
    pub fn spawn<T, F>(&self, vp: usize, f: F) -> Result<JoinHandle<T>, SpawnError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Ctx<Ordinary>) -> T + Send + 'static,
    {
        let home = &self.shared.vps[vp % self.vps()];
        let (scheduled, handle) = self
            .shared
            .prepare_spawn::<Ordinary, T, F>(home, false, f)?;
        self.shared.schedule(home, false, scheduled);
        Ok(handle)
    }

    /// Asks VP `vp`'s listener to run `action` (spin-only, as the listener never suspends).
    pub fn remote(&self, vp: usize, action: impl FnOnce(&mut Ctx<Listener>) + Send + 'static) {
        self.shared.remote(vp % self.vps(), Box::new(action));
    }

    /// VP `index`'s main loop; returns when the task has no live chore left.
    ///
    /// # Panics
    /// If another thread is already running VP `index`.
    pub fn run_vp(&self, index: usize) {
        let shared = &*self.shared;
        let vp = &shared.vps[index];
        assert!(vp.enter(), "VP {index} is already running");
        loop {
            let served = vp.listen();
            if served > 0 {
                shared.gone(served);
            }
            // Two statements: the own queue's guard must be gone before stealing takes another
            // VP's lock, or VPs stealing from each other deadlock.
            // SAFETY: this thread runs VP `index` (`enter`).
            let own = unsafe { vp.take_own() };
            let next = own.or_else(|| shared.steal(index));
            if let Some(chore) = next {
                vp.run_chore(chore);
                continue;
            }
            if shared.live.load(Ordering::Acquire) == 0 {
                break;
            }
            // Announce the idling, then look once more, own queue first: a spawn or wake
            // either sees the flag and notifies this VP, or pushed before the look and is
            // found by it (`Vp::enqueue`, `wake_a_thief`).
            vp.idling.store(true, Ordering::SeqCst);
            let own = vp.run.lock().pop_front();
            if let Some(chore) = own.or_else(|| shared.steal(index)) {
                vp.idling.store(false, Ordering::SeqCst);
                vp.run_chore(chore);
                continue;
            }
            if let Some(word) = shared.idle.idle(index, vp.alarms.next_deadline()) {
                shared.notes.deliver(word);
            }
            vp.idling.store(false, Ordering::SeqCst);
        }
        vp.leave();
    }

    /// A snapshot of every live chore of the task (listeners included), by VP then id. It
    /// looks at the control block place of every chunk the VPs' pools have had, and lists
    /// those that are a chore's (counting a reference while it reads one) and not exited.
    pub fn chores(&self) -> Vec<ChoreInfo> {
        let mut all: Vec<ChoreInfo> = self
            .shared
            .vps
            .iter()
            .map(|vp| vp.listener.info())
            .collect();
        for vp in self.shared.vps.iter() {
            let listed: Vec<ChoreRef> = {
                let pool = vp.stacks.lock();
                // SAFETY: a known chunk stays mapped while its pool's lock is held
                // (`release_stacks` forgets it under that lock first).
                let known = unsafe { pool.known() };
                known
                    .filter_map(|top| {
                        // SAFETY: as above, and the control block place of a chunk holds
                        // zeroes or a block `Chore::init` wrote.
                        unsafe { ChoreRef::to_listed(chore_place(top)) }
                    })
                    .collect()
            };
            // One snapshot per chore: exited ones are left out by the state it shows.
            all.extend(
                listed
                    .iter()
                    .map(|c| c.info())
                    .filter(|c| c.state != ChoreState::Done),
            );
            // The references go here, with no pool lock held: a last one frees its chunk.
        }
        all.sort_by_key(|c| (c.vp, c.id));
        all
    }

    /// Hands a notification word a listener received to the chore waiting for it; false if
    /// it names no outstanding request.
    pub fn deliver(&self, word: u64) -> bool {
        self.shared.notes.deliver(word)
    }

    /// For a fault keeper, while VP `vp` is stopped in a fault: the chore it was running, or
    /// `None` if it was in its listener (a fault of the runtime itself).
    pub fn faulted(&self, vp: usize) -> Option<FaultedChore<'_>> {
        let p = self.shared.vps.get(vp)?.on_vp.load(Ordering::Acquire);
        // SAFETY: a chore on a VP is kept alive by the VP's scheduling reference, and the VP
        // is stopped in the fault, so it stays there while the keeper looks.
        let chore = unsafe { p.as_ref()? };
        Some(FaultedChore { chore })
    }

    /// Gives every pooled stack chunk back to the provider now (the pools keep their records
    /// in the chunks): for a task whose memory goes away before its last `Runtime` handle.
    pub fn release_stacks(&self) {
        self.shared.release_stacks();
    }

    /// (free chunks, reserve chunks, emergency uses) of VP `index`'s stack pool.
    pub fn stack_pool(&self, index: usize) -> (usize, usize, u64) {
        let pool = self.shared.vps[index].stacks.lock();
        (
            pool.free_chunks(),
            pool.reserve_chunks(),
            pool.emergency_uses,
        )
    }
}

impl Shared {
    /// Makes a chore of kind `K` on VP `home`, not yet runnable: its scheduling reference is
    /// for the caller to schedule (`schedule`, or `Vp::run_first`).
    #[inline]
    pub(crate) fn prepare_spawn<K, T, F>(
        &self,
        home: &Vp,
        on_home: bool,
        f: F,
    ) -> Result<(ChoreRef, JoinHandle<T>), SpawnError>
    where
        K: Kind,
        T: Send + 'static,
        F: FnOnce(&mut Ctx<K>) -> T + Send + 'static,
    {
        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let index = u32::try_from(index).map_err(|_| SpawnError::NoIndex)?;
        let stack = home
            .take_stack(on_home, &*self.provider)
            .ok_or(SpawnError::NoStack)?;
        // The chunk's top holds, downwards: the control block, the result slot, the closure;
        // the stack starts below them.
        let top = stack.top();
        let p = chore_place(top).cast_mut();
        let chore_at = p as usize;
        let (slot_at, f_at) = (result_slot_at::<T>(p), closure_at::<T, F>(p));
        let stack_top = f_at & !15;
        if top - stack_top > (top - stack.guard().end) / 4 {
            home.give_pooled(stack);
            return Err(SpawnError::TooLarge);
        }
        // SAFETY: the chunk is ours and `stack_top` is below everything written in it.
        let save = unsafe { initial_frame(stack_top, chore_main, chore_at) };
        let start = crate::chore::Start {
            entry: entry_for::<K, T, F>,
            vp: home,
            save,
            stack,
            top: stack_top,
        };
        // SAFETY: the chunk is ours (just taken from the pool), no one runs on it, and the
        // three places are inside it, aligned, and apart; the control block's is at its top.
        unsafe {
            (f_at as *mut F).write(f);
            (slot_at as *mut ResultSlot<T>).write(ResultSlot::new());
            Chore::init(p, self, ChoreId::new(self.task, index), K::KIND, start);
        }
        self.live.fetch_add(1, Ordering::AcqRel);
        // SAFETY: a chore just written into its chunk, named by no reference yet.
        let (scheduled, handle) = unsafe { ChoreRef::first_two(NonNull::new_unchecked(p)) };
        Ok((
            scheduled,
            JoinHandle {
                chore: handle,
                _result: PhantomData,
            },
        ))
    }

    /// Makes a new chore of VP `home` runnable; `on_home`: the spawn runs on `home`'s thread
    /// (a chore of it spawned), which may hand the VP to the new chore.
    #[inline]
    pub(crate) fn schedule(&self, home: &Vp, on_home: bool, scheduled: ChoreRef) {
        if on_home && home.may_hand_off(&scheduled) {
            // SAFETY: the spawning chore runs on `home`, on this thread, and no other VP
            // could run the new chore.
            unsafe { home.hand_off(scheduled) };
            return;
        }
        if home.enqueue(scheduled) {
            self.idle.notify(home.index);
        }
        if self.vps.len() > 1 {
            self.wake_a_thief(home.index);
        }
    }

    fn remote(&self, vp: usize, action: crate::vp::RemoteAction) {
        self.live.fetch_add(1, Ordering::AcqRel);
        self.vps[vp].post_remote(action);
        self.idle.notify(vp);
    }

    /// Wakes the nearest idle VP other than `vp`, which has new work, so that it steals.
    fn wake_a_thief(&self, vp: usize) {
        fence(Ordering::SeqCst);
        let n = self.vps.len();
        if let Some(j) = (1..n)
            .map(|d| (vp + d) % n)
            .find(|&j| self.vps[j].idling.load(Ordering::SeqCst))
        {
            self.idle.notify(j);
        }
    }

    /// Takes the chore nearest the front of another VP's run queue that is not bound to its
    /// VP, nearest VP first.
    fn steal(&self, thief: usize) -> Option<ChoreRef> {
        let n = self.vps.len();
        let chore = (1..n).find_map(|d| self.vps[(thief + d) % n].run.lock().steal())?;
        // Off every queue and running nowhere: it is the thief's to move.
        chore
            .vp
            .store(&self.vps[thief] as *const Vp as *mut Vp, Ordering::Relaxed);
        Some(chore)
    }

    /// An exited chore is off its VP (`here`): its chunk goes back to the VP once its join
    /// handle is gone too.
    #[inline]
    pub(crate) fn retire(&self, chore: ChoreRef, here: &Vp) {
        chore.release_from(here as *const Vp as *const ());
        self.gone(1);
    }

    /// `n` chores or remote actions are done. The last one wakes every VP: one idle in the
    /// kernel would otherwise wait forever instead of seeing that the task has finished.
    fn gone(&self, n: usize) {
        if self.live.fetch_sub(n, Ordering::AcqRel) == n {
            (0..self.vps.len()).for_each(|i| self.idle.notify(i));
        }
    }
}

impl Shared {
    fn release_stacks(&self) {
        // First out of every listing's sight: a known chunk may be in another VP's hands.
        for vp in self.vps.iter() {
            vp.stacks.lock().forget_known();
        }
        for vp in self.vps.iter() {
            for chunk in vp.drain_hot() {
                self.provider.unmap_chunk(chunk);
            }
            for chunk in vp.stacks.lock().drain() {
                self.provider.unmap_chunk(chunk);
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.release_stacks();
    }
}

/// The chore a fault stopped, seen by the task's fault keeper (the primary trap handler).
pub struct FaultedChore<'a> {
    chore: &'a Chore,
}

impl core::fmt::Debug for FaultedChore<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FaultedChore({})", self.chore.id())
    }
}

impl FaultedChore<'_> {
    pub fn chore(&self) -> &Chore {
        self.chore
    }

    /// Its stack chunk: (lowest address of its guard, lowest usable address, top of its
    /// stack: below its control block).
    pub fn stack(&self) -> Option<(usize, usize, usize)> {
        // SAFETY: the chore is stopped; only its VP touches the chunk, and it is stopped too.
        let stack = unsafe { (*self.chore.stack.get()).as_ref()? };
        Some((stack.base(), stack.guard().end, self.chore.top.get()))
    }

    /// Where to resume the VP so that this chore ends as killed: (instruction pointer, stack
    /// pointer, first argument). The stack is the top of the chore's own chunk, which it will
    /// never use again.
    pub fn kill(&self) -> (usize, usize, usize) {
        let top = self.stack().map_or(0, |(_, _, top)| top);
        // As if called: 16-byte aligned before the return address.
        let sp = (top - 64) & !15usize;
        (
            crate::ctx::chore_killed as *const () as usize,
            sp - 8,
            self.chore as *const Chore as usize,
        )
    }
}

/// A chore ended by its fault keeper (say, a stack overflow) returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Killed;

/// Waits for a chore's result.
pub struct JoinHandle<T> {
    chore: ChoreRef,
    _result: PhantomData<T>,
}

impl<T> core::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "JoinHandle({})", self.chore.id())
    }
}

impl<T> JoinHandle<T> {
    pub fn id(&self) -> ChoreId {
        self.chore.id()
    }

    pub fn state(&self) -> ChoreState {
        self.chore.state()
    }

    /// The chore's control block, for listings and for a fault keeper's `dispatch_trap`.
    pub fn chore(&self) -> &Chore {
        &self.chore
    }

    fn slot(&self) -> &ResultSlot<T> {
        // SAFETY: spawn put a ResultSlot<T> there, and this handle's reference keeps the
        // chunk holding it alive.
        unsafe { &*(result_slot_at::<T>(&*self.chore) as *const ResultSlot<T>) }
    }

    /// Suspends the caller until the chore has exited; returns what it returned.
    ///
    /// # Panics
    /// If the chore was killed (`join_result` tells instead).
    #[inline]
    pub fn join<C: Suspend>(self, ctx: &mut C) -> T {
        let id = self.chore.id();
        match self.join_result(ctx) {
            Ok(v) => v,
            Err(Killed) => panic!("chore {id} was killed"),
        }
    }

    /// Suspends the caller until the chore has exited; what it returned, or `Killed`.
    #[inline]
    pub fn join_result<C: Suspend>(self, ctx: &mut C) -> Result<T, Killed> {
        // Once the chore has exited its result is filed or never will be, so the handle's
        // drop (`abandon`) has nothing left to do: only its reference is dropped, below.
        let handle = core::mem::ManuallyDrop::new(self);
        // SAFETY: the reference is read out once, and `handle` is never dropped.
        let chore = unsafe { core::ptr::read(&handle.chore) };
        if !chore.exited.load(Ordering::Acquire) {
            let mut joiner = chore.joiner.lock();
            // Under the lock the exit takes after setting `exited`: either it finds this
            // waker, or this finds `exited` set.
            if !chore.exited.load(Ordering::Acquire) {
                check_no_spin_held(ctx);
                *joiner = Some(ctx.waker());
                ctx.park(joiner);
            }
        }
        let result = match handle.slot().take() {
            Some(v) => Ok(v),
            None if chore.killed.load(Ordering::Acquire) => Err(Killed),
            None => unreachable!("chore {} exited without a result", chore.id()),
        };
        chore.release_from(ctx.here());
        result
    }

    /// The result if the chore has exited, without waiting.
    pub fn try_join(self) -> Result<T, JoinHandle<T>> {
        if !self.chore.exited.load(Ordering::Acquire) {
            return Err(self);
        }
        let value = self.slot().take();
        value.ok_or(self)
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.slot().abandon();
    }
}
