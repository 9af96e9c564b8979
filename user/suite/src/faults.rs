//! Processes that do what user code may not (read kernel memory, jump into the kernel, run a
//! privileged instruction, touch an I/O port it was not granted) are halted while the system
//! goes on; a process spinning forever
//! at the tester's priority does not starve the tester (timer preemption).

use crate::helpers::Helper;
use crate::spawn::spawn;
use crate::tester::{await_state, ensure, step, Outcome, ENDPOINT, SCRATCH};
use crate::Ctx;
use alloc::format;
use tessera_user::abi::ProcessState;
use tessera_user::{caps, echo, invoke, slots, tsc};

const HELPER: u8 = SCRATCH + 9;

pub fn halted_for(ctx: &Ctx, helper: Helper) -> Outcome {
    let h = step("spawn", spawn(HELPER, helper, 0, ctx.priority, ENDPOINT))?;
    step("resume", caps::resume(h.process()))?;
    await_state(h.process(), ctx.tsc_hz, |s| s == ProcessState::Halted)?;
    let r = step(
        "CALL echo afterwards",
        invoke::call(slots::ECHO, echo::PLUS_ONE, &[1], &[]),
    )?;
    ensure(r.data[0] == 2, || format!("echo answered {:?}", r.data))
}

pub fn spinner_does_not_starve(ctx: &Ctx) -> Outcome {
    let h = step(
        "spawn",
        spawn(HELPER, Helper::Spin, 0, ctx.priority, ENDPOINT),
    )?;
    step("resume", caps::resume(h.process()))?;
    let start = tsc::now();
    while tsc::now().wrapping_sub(start) < ctx.tsc_hz / 20 {
        step(
            "CALL echo beside the spinner",
            invoke::call(slots::ECHO, echo::PLUS_ONE, &[1], &[]),
        )?;
    }
    let spinning = step("INFO", caps::info(h.process()))?;
    ensure(spinning.state == ProcessState::Running, || {
        format!("the spinner is {}", spinning.state.name())
    })?;
    step("halt the spinner", caps::halt(h.process()))?;
    let halted = step("INFO", caps::info(h.process()))?;
    ensure(halted.state == ProcessState::Halted, || {
        format!("the halted spinner is {}", halted.state.name())
    })
}
