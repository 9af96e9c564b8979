//! A task on Tessera's kernel (seed 000, DESIGN.md "The user runtime"): one address space, one
//! virtual processor per CPU it uses. Each VP is a Tessera process in the home process's
//! address space, pinned to its CPU with SET_AFFINITY, running `Runtime::run_vp`; the VPs
//! share the runtime's ready queues and steal from each other. The home process starts them,
//! then serves as their fault keeper (the primary trap handler, `keeper.rs`) until every VP
//! has run out of chores, and then gives every object back.
//!
//! Guarantees: everything the task creates comes from its own bank (a sub-bank of the home's)
//! and is destroyed when `run` returns, so running tasks again costs the home no quota.
//! Assumes: the home holds its own address space's capability in `slots::task::SPACE`, and
//! the slots of `slots.rs`.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use tessera_runtime::{vp_notification, Config, Ctx, Ordinary, PoolConfig, Runtime, TaskId};
use tessera_user::abi::message::InvocationKind;
use tessera_user::abi::{CapType, Error, Rights};
use tessera_user::{caps, invoke, nonblocking, slots as lib_slots};

use crate::idle::{KernelIdle, SharedIdle};
use crate::keeper::{Keeper, KeeperCounts};
use crate::memory::{file, load, Memory, PAGE};
use crate::refill::RefillStacks;
use crate::slots::*;
use crate::stacks::{GuardedStacks, StackRegion, MORE_STACKS};

/// Pages of each VP's own stack (its listener's: `run_vp` and the switch run on it).
const VP_STACK_PAGES: usize = 4;
/// Where the VPs' own stacks are, each with an unmapped page below it.
const VP_STACKS_VA: usize = 0x0f_0000_0000;
/// The badge of a VP's endpoint to the home: its done POST.
pub(crate) const DONE_BADGE: u64 = 0x7a5c_d000;
/// The badge of a VP's fault endpoint to the home (its keeper).
pub(crate) const FAULT_BADGE: u64 = 0x7a5c_f000;
/// The order of a VP's done POST.
const DONE: u32 = 0x7a5d;

#[derive(Clone, Copy, Debug)]
pub struct TaskConfig {
    pub task: TaskId,
    /// VPs, one per CPU while there are CPUs (VP i goes to CPU i mod the CPUs online).
    pub vps: usize,
    /// Pages of a stack chunk.
    pub chunk_pages: usize,
    /// How many chunks a chore's stack may grow to before an overflow ends it.
    pub max_chunks: usize,
    /// Chunks mapped when the task starts (the runtime's pools fill their reserves from them).
    pub chunks: usize,
    /// Most chunks the task may have: the VPs' pools ask the home to map more, from the
    /// task's bank, until this many (`stacks.rs`).
    pub slots: usize,
    /// 0: guarded chunks of `chunk_pages` pages; else dense chunks of this many bytes (no
    /// guard pages, no growth: `stacks.rs`).
    pub dense_bytes: usize,
    pub pool: PoolConfig,
    /// Quota of the task's bank, from the home's bank.
    pub quota: u64,
    /// The VPs' priority.
    pub priority: u64,
}

/// What a run saw.
#[derive(Clone, Debug, Default)]
pub struct TaskReport {
    /// The CPU each VP was pinned to.
    pub cpus: Vec<u32>,
    /// Per VP: waits in the kernel, wake-up POSTs it was sent, alarm POSTs it got.
    pub waits: Vec<u64>,
    pub posts: Vec<u64>,
    pub alarms: Vec<u64>,
    /// Per VP: notification POSTs from other tasks it received.
    pub notes: Vec<u64>,
    /// Per VP: the kernel's NOTIFIED POSTs it received.
    pub kernel_notes: Vec<u64>,
    /// Per VP: its looks for notifications while busy.
    pub polls: Vec<u64>,
    pub keeper: KeeperCounts,
    /// Pages the task mapped (stacks included).
    pub pages: usize,
    /// Refill CALLs to the home made from a chore's chunk, not a refill stack (`refill.rs`).
    pub refill_calls_on_chunks: usize,
}

struct VpBoot {
    rt: Runtime,
    index: usize,
}

pub struct Task {
    rt: Runtime,
    config: TaskConfig,
    region: Arc<StackRegion>,
    idle: Arc<KernelIdle>,
    memory: Memory,
    cpus: Vec<u32>,
    boots: Vec<*mut VpBoot>,
    made: usize,
}

impl core::fmt::Debug for Task {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Task({:?}, {} VPs)", self.config.task, self.config.vps)
    }
}

/// A VP's process: runs its share of the task, tells the home, stops.
extern "C" fn vp_main(boot: u64) -> ! {
    // SAFETY: the home passes a `VpBoot` it keeps alive until this process is destroyed.
    let b = unsafe { &*(boot as *const VpBoot) };
    b.rt.run_vp(b.index);
    let _ = invoke::post(HOME, DONE, b.index as u64);
    let _ = caps::halt(lib_slots::SELF);
    unreachable!("VP {} ran on after halting itself", b.index)
}

/// How many CPUs are online: the first CPU SET_AFFINITY refuses for `process`.
fn cpus_online(process: u8) -> Result<u32, Error> {
    for cpu in 0..64u32 {
        match caps::set_affinity(process, u64::from(cpu)) {
            Ok(()) => {}
            Err(Error::InvalidArgument) => return Ok(cpu.max(1)),
            Err(e) => return Err(e),
        }
    }
    Ok(64)
}

impl Task {
    /// Makes the task: its bank, memory, runtime and halted VPs.
    pub fn new(config: TaskConfig) -> Result<Task, String> {
        if config.vps == 0 || config.vps > MAX_VPS {
            return Err(format!("{} VPs: 1 to {MAX_VPS} allowed", config.vps));
        }
        let step = |what: &str, r: Result<(), Error>| r.map_err(|e| format!("{what}: {e:?}"));
        step(
            "task bank",
            caps::create_bank(lib_slots::BANK, config.quota, TASK_BANK),
        )?;
        let region = Arc::new(if config.dense_bytes > 0 {
            StackRegion::dense(config.dense_bytes, config.slots)
        } else {
            StackRegion::new(config.chunk_pages, config.max_chunks, config.slots)
        });
        // The first chunks are mapped before the runtime fills its pools' reserves from them.
        let mut memory = Memory::default();
        let first = step(
            "task capability page",
            caps::create(TASK_BANK, CapType::CapPage, TASK_CAPS),
        )
        .and_then(|()| {
            region.map_through(config.chunks, &mut memory).map_err(|e| {
                let left = caps::available(TASK_BANK).map_or(0, |(free, _)| free);
                format!(
                    "stack chunks: {e:?} after {} pages ({left} units left in the task's bank)",
                    memory.pages()
                )
            })
        })
        .and_then(|()| {
            RefillStacks::map(config.vps, &mut memory).map_err(|e| format!("refill stacks: {e:?}"))
        });
        let idle = Arc::new(KernelIdle::new(config.vps));
        let rt = first.and_then(|refill| {
            Runtime::new(
                Config {
                    task: config.task,
                    vps: config.vps,
                    pool: config.pool,
                },
                Box::new(GuardedStacks {
                    region: region.clone(),
                    refill,
                }),
                Box::new(SharedIdle(idle.clone())),
            )
            .map_err(|e| format!("runtime: {e:?}"))
        });
        let rt = match rt {
            Ok(rt) => rt,
            Err(e) => {
                release_task_memory(&mut memory);
                return Err(e);
            }
        };
        let mut task = Task {
            rt,
            config,
            region,
            idle,
            memory,
            cpus: Vec::new(),
            boots: Vec::new(),
            made: 0,
        };
        match task.make() {
            Ok(()) => Ok(task),
            Err(e) => {
                task.tear_down();
                Err(e)
            }
        }
    }

    fn make(&mut self) -> Result<(), String> {
        let step = |what: &str, r: Result<(), Error>| r.map_err(|e| format!("{what}: {e:?}"));
        let n = self.config.vps;
        for i in 0..n {
            step(
                "VP process",
                caps::create(TASK_BANK, CapType::Process, PROCESS),
            )?;
            if let Err(e) = file(TASK_CAPS, process_entry(i), PROCESS) {
                let _ = caps::destroy(TASK_BANK, PROCESS);
                return Err(format!("file VP process: {e:?}"));
            }
            step("VP alarm", caps::create(TASK_BANK, CapType::Alarm, TMP))?;
            if let Err(e) = file(TASK_CAPS, alarm_entry(i), TMP) {
                let _ = caps::destroy(TASK_BANK, TMP);
                return Err(format!("file VP alarm: {e:?}"));
            }
            self.made = i + 1;
            step("VP space", caps::set_space(PROCESS, lib_slots::task::SPACE))?;
            for (slot, from) in [
                (lib_slots::SELF, PROCESS),
                (lib_slots::CONSOLE, lib_slots::CONSOLE),
                (lib_slots::ECHO, lib_slots::ECHO),
                (ALARM, TMP),
            ] {
                step("VP slot", caps::set_cap(PROCESS, slot, from, Rights::ALL))?;
            }
        }
        let online = {
            step("load VP 0", load(TASK_CAPS, process_entry(0), PROCESS))?;
            cpus_online(PROCESS).map_err(|e| format!("CPUs online: {e:?}"))?
        };
        for i in 0..n {
            step("load VP", load(TASK_CAPS, process_entry(i), PROCESS))?;
            step("VP endpoint", caps::make_endpoint(PROCESS, i as u64, TMP))?;
            // Its chores' non-blocking calls are notified to the VP itself (`kernel_call.rs`).
            step(
                "VP notification endpoint",
                nonblocking::set_notify(PROCESS, TMP, vp_notification(i)),
            )?;
            for j in 0..n {
                step("load VP", load(TASK_CAPS, process_entry(j), PROCESS))?;
                step(
                    "VP endpoints",
                    caps::set_cap(PROCESS, vp_endpoint(i), TMP, Rights::ALL),
                )?;
            }
        }
        for i in 0..n {
            step("load VP", load(TASK_CAPS, process_entry(i), PROCESS))?;
            step(
                "done endpoint",
                caps::make_endpoint(lib_slots::SELF, DONE_BADGE | i as u64, TMP),
            )?;
            step("done slot", caps::set_cap(PROCESS, HOME, TMP, Rights::ALL))?;
            step(
                "fault endpoint",
                caps::make_endpoint(lib_slots::SELF, FAULT_BADGE | i as u64, TMP),
            )?;
            step("keeper", caps::set_fault_endpoint(PROCESS, TMP))?;
            step(
                "priority",
                caps::set_priority(PROCESS, self.config.priority),
            )?;
            let cpu = i as u32 % online;
            step("pin", caps::set_affinity(PROCESS, u64::from(cpu)))?;
            self.cpus.push(cpu);
            let top = VP_STACKS_VA + (i + 1) * (VP_STACK_PAGES + 1) * PAGE;
            for page in 0..VP_STACK_PAGES {
                step("VP stack", self.memory.map((top / PAGE - 1 - page) as u64))?;
            }
            let boot = Box::into_raw(Box::new(VpBoot {
                rt: self.rt.clone(),
                index: i,
            }));
            self.boots.push(boot);
            // As if called: 16-byte aligned before the return address.
            step(
                "entry",
                caps::set_entry(
                    PROCESS,
                    vp_main as *const () as u64,
                    (top - 8) as u64,
                    boot as u64,
                ),
            )?;
        }
        Ok(())
    }

    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Makes an endpoint to VP `vp` with `badge` in the home's slot `into`, for another task
    /// that POSTs notification words to this task's listener (a `SharedSender`'s words, with
    /// order `idle::NOTIFY`).
    pub fn endpoint_to_vp(&self, vp: usize, badge: u64, into: u8) -> Result<(), Error> {
        if vp >= self.made {
            return Err(Error::InvalidArgument);
        }
        load(TASK_CAPS, process_entry(vp), PROCESS)?;
        caps::make_endpoint(PROCESS, badge, into)
    }

    /// Copies the capability in the home's slot `from` into slot `into` of every VP, for its
    /// chores to invoke. `into` must be one of `slots::GIVEN`.
    pub fn give_cap(&self, into: u8, from: u8) -> Result<(), Error> {
        if !GIVEN.contains(&into) {
            return Err(Error::InvalidArgument);
        }
        for i in 0..self.made {
            load(TASK_CAPS, process_entry(i), PROCESS)?;
            caps::set_cap(PROCESS, into, from, Rights::ALL)?;
        }
        Ok(())
    }

    /// Runs `main` as the task's first chore on VP 0 and keeps the VPs' faults until every
    /// chore has exited; then destroys the task. Returns `main`'s result and what was seen.
    pub fn run<T: Send + 'static>(
        mut self,
        main: impl FnOnce(&mut Ctx<Ordinary>) -> T + Send + 'static,
    ) -> Result<(T, TaskReport), String> {
        let out: Arc<spin::Mutex<Option<T>>> = Arc::new(spin::Mutex::new(None));
        let slot = out.clone();
        let r = (|| -> Result<KeeperCounts, String> {
            self.rt
                .spawn(0, move |ctx| {
                    let v = main(ctx);
                    *slot.lock() = Some(v);
                })
                .map_err(|e| format!("spawn main: {e:?}"))?;
            self.idle.start();
            self.region.serve(true);
            for i in 0..self.config.vps {
                load(TASK_CAPS, process_entry(i), PROCESS)
                    .and_then(|()| caps::resume(PROCESS))
                    .map_err(|e| format!("resume VP {i}: {e:?}"))?;
            }
            let mut keeper = Keeper::new(&self.rt, &self.region, &mut self.memory);
            let mut done = 0;
            while done < self.config.vps {
                let m = invoke::raw(InvocationKind::Return, 0, 0, &[], &[], [0, 0, 0, RESUME])
                    .map_err(|e| format!("keeper wait: {e:?}"))?;
                if m.badge & !0xff == DONE_BADGE && m.order() == MORE_STACKS {
                    keeper.more_stacks(m.data[0])?;
                } else if m.badge & !0xff == DONE_BADGE {
                    done += 1;
                } else if m.badge & !0xff == FAULT_BADGE {
                    keeper.fault(m.badge as usize & 0xff, m.order(), m.data)?;
                }
            }
            Ok(keeper.counts)
        })();
        self.region.serve(false);
        let report = r.map(|keeper| TaskReport {
            cpus: self.cpus.clone(),
            waits: self.counter(|v| v.waits.load(Ordering::Relaxed)),
            posts: self.counter(|v| v.posts.load(Ordering::Relaxed)),
            alarms: self.counter(|v| v.alarms.load(Ordering::Relaxed)),
            notes: self.counter(|v| v.notes.load(Ordering::Relaxed)),
            kernel_notes: self.counter(|v| v.kernel_notes.load(Ordering::Relaxed)),
            polls: self.counter(|v| v.polls.load(Ordering::Relaxed)),
            keeper,
            pages: self.memory.pages(),
            refill_calls_on_chunks: self.region.calls_on_chunks(),
        });
        self.tear_down();
        let report = report?;
        let value = out.lock().take().ok_or("the main chore returned nothing")?;
        Ok((value, report))
    }

    fn counter(&self, f: impl Fn(&crate::idle::VpIdle) -> u64) -> Vec<u64> {
        self.idle.vps.iter().map(f).collect()
    }

    /// Destroys the VPs, the memory and the bank.
    fn tear_down(&mut self) {
        for i in 0..self.made {
            for entry in [process_entry(i), alarm_entry(i)] {
                if load(TASK_CAPS, entry, TMP).is_ok() {
                    let _ = caps::destroy(TASK_BANK, TMP);
                }
            }
        }
        self.made = 0;
        for boot in self.boots.drain(..) {
            // SAFETY: made by `Box::into_raw` in `make`; its VP process is destroyed.
            drop(unsafe { Box::from_raw(boot) });
        }
        // The pools' records are in the chunks, which are about to be unmapped.
        self.rt.release_stacks();
        release_task_memory(&mut self.memory);
    }
}

/// Gives back the task's memory, its capability page and its bank: the end of `tear_down`,
/// and all `Task::new` made when it fails before the runtime exists.
fn release_task_memory(memory: &mut Memory) {
    memory.release();
    let _ = caps::destroy(TASK_BANK, TASK_CAPS);
    let _ = caps::destroy(lib_slots::BANK, TASK_BANK);
}

impl Drop for Task {
    fn drop(&mut self) {
        if self.made > 0 || !self.boots.is_empty() || self.memory.pages() > 0 {
            self.tear_down();
        }
    }
}
