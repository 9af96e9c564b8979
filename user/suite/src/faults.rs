//! Processes that do what user code may not (read kernel memory, jump into the kernel, run a
//! privileged instruction, touch an I/O port it was not granted) are halted while the system
//! goes on; a process spinning forever at the tester's priority neither starves the tester nor
//! is starved by it (timer preemption), and stops when halted.

use crate::helpers::Helper;
use crate::sleeper::Sleeper;
use crate::spawn::spawn;
use crate::tester::{await_state, ensure, step, Outcome, ENDPOINT, SCRATCH};
use crate::Ctx;
use alloc::format;
use alloc::string::String;
use tessera_user::abi::{order, CapType, ProcessState, Rights};
use tessera_user::{caps, echo, invoke, slots, tsc};

pub(crate) const HELPER: u8 = SCRATCH + 9;
/// The counter page's slot, after the helper's three (`spawn`).
const COUNTER_PAGE: u8 = HELPER + 3;
/// Where the counter page is mapped in the helper's space (clear of its code page).
pub(crate) const COUNTER_VPN: u64 = 0x2000;
/// Rounds of a tenth of a second in which both the tester and the spinner must progress.
const ROUNDS: u32 = 3;

pub fn halted_for(ctx: &Ctx, helper: Helper) -> Outcome {
    let h = step("spawn", spawn(HELPER, helper, 0, ctx.priority, ENDPOINT))?;
    step("resume", caps::resume(h.process()))?;
    await_state(h.process(), |s| s == ProcessState::Halted)?;
    let r = step(
        "CALL echo afterwards",
        invoke::call(slots::ECHO, echo::PLUS_ONE, &[1], &[]),
    )?;
    ensure(r.data[0] == 2, || format!("echo answered {:?}", r.data))
}

/// A page the tester maps writable into the counter helper's space at [`COUNTER_VPN`]: the
/// helper counts in its word 0, which the tester reads with `page::READ_WORD`.
pub(crate) struct CounterPage;

impl CounterPage {
    pub(crate) fn map(space: u8) -> Result<CounterPage, String> {
        step(
            "create the counter page",
            caps::create(slots::BANK, CapType::Page, COUNTER_PAGE),
        )?;
        let page = CounterPage;
        step("zero the counter page", caps::zero_page(COUNTER_PAGE))?;
        step(
            "map the counter page",
            caps::map(
                space,
                COUNTER_VPN,
                COUNTER_PAGE,
                Rights::READ.union(Rights::WRITE),
            ),
        )?;
        Ok(page)
    }

    pub(crate) fn count(&self) -> Result<u64, String> {
        step(
            "read the counter",
            invoke::call(COUNTER_PAGE, order::page::READ_WORD, &[0], &[]).map(|r| r.data[0]),
        )
    }
}

impl Drop for CounterPage {
    fn drop(&mut self) {
        // Unmapped before it is destroyed, so no space keeps a mapping of a freed page.
        let _ = caps::unmap(HELPER, COUNTER_VPN);
        let _ = caps::destroy(slots::BANK, COUNTER_PAGE);
    }
}

/// A helper counting in a tight loop at the tester's priority: while it runs, the tester keeps
/// calling echo, and in every round both must have moved on — the tester's calls (it was not
/// starved) and the helper's count (it really ran, on this CPU or another). After HALT the count
/// must stand still.
pub fn spinner_does_not_starve(ctx: &Ctx) -> Outcome {
    let h = step(
        "spawn",
        spawn(
            HELPER,
            Helper::Counter,
            COUNTER_VPN * 4096,
            ctx.priority,
            ENDPOINT,
        ),
    )?;
    let counter = CounterPage::map(HELPER)?;
    let hz = ctx.tsc_hz.max(1_000_000);
    step("resume", caps::resume(h.process()))?;
    let mut last = counter.count()?;
    for round in 0..ROUNDS {
        let start = tsc::now();
        let mut calls = 0u64;
        while tsc::now().wrapping_sub(start) < hz / 10 {
            let r = step(
                "CALL echo beside the spinner",
                invoke::call(slots::ECHO, echo::PLUS_ONE, &[calls], &[]),
            )?;
            ensure(r.data[0] == calls + 1, || {
                format!("echo answered {:?}", r.data)
            })?;
            calls += 1;
        }
        let now = counter.count()?;
        ensure(now > last, || {
            format!("round {round}: the spinner's count stayed at {last} while the tester made {calls} calls")
        })?;
        last = now;
    }
    let spinning = step("INFO", caps::info(h.process()))?;
    ensure(spinning.state == ProcessState::Running, || {
        format!("the spinner is {}", spinning.state.name())
    })?;
    let sleeper = Sleeper::new()?;
    step("halt the spinner", caps::halt(h.process()))?;
    // A spinner halted on another CPU stops at that CPU's next kernel entry (a timer tick).
    sleeper.nap(50_000_000)?;
    let stopped = counter.count()?;
    sleeper.nap(50_000_000)?;
    let still = counter.count()?;
    ensure(still == stopped, || {
        format!("the halted spinner counted on from {stopped} to {still}")
    })
}
