//! CPU affinity from user mode: a process pinned to CPU 2 runs only there (4 CPUs; skipped
//! with the reason when CPU 2 is not online); a CPU that is not online is refused.

use crate::faults::{CounterPage, COUNTER_VPN, HELPER};
use crate::helpers::Helper;
use crate::sleeper::Sleeper;
use crate::spawn::spawn;
use crate::tester::{ensure, step, Outcome, ENDPOINT};
use crate::Ctx;
use alloc::format;
use tessera_user::abi::order::process::ANY_CPU;
use tessera_user::abi::Error;
use tessera_user::{caps, println, slots};

const PINNED_TO: u64 = 2;
/// INFO samples taken while the pinned helper runs.
const SAMPLES: u32 = 200;

/// A counting helper pinned to CPU 2 is seen on no other CPU while it counts, and counts.
pub fn pinned_runs_only_there(ctx: &Ctx) -> Outcome {
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
    match caps::set_affinity(h.process(), PINNED_TO) {
        Err(Error::InvalidArgument) => {
            println!("usertest pinned_runs_only_on_cpu_2: skipped: CPU {PINNED_TO} is not online");
            return Ok(());
        }
        r => step("pin to CPU 2", r)?,
    }
    let info = step("INFO", caps::info(h.process()))?;
    ensure(info.affinity == Some(PINNED_TO as u32), || {
        format!("INFO says affinity {:?}", info.affinity)
    })?;
    let sleeper = Sleeper::new()?;
    step("resume", caps::resume(h.process()))?;
    let mut seen_on_2 = 0;
    for _ in 0..SAMPLES {
        let i = step("INFO", caps::info(h.process()))?;
        match i.cpu {
            Some(2) => seen_on_2 += 1,
            None => {}
            Some(c) => return Err(format!("the process pinned to CPU 2 ran on CPU {c}")),
        }
        sleeper.nap(500_000)?;
    }
    let counted = counter.count()?;
    step("halt", caps::halt(h.process()))?;
    ensure(counted > 0 && seen_on_2 > 0, || {
        format!("the pinned helper counted {counted} and was seen on CPU 2 {seen_on_2} times")
    })
}

/// SET_AFFINITY refuses a CPU that is not online and changes nothing.
pub fn refuses_a_cpu_not_online() -> Outcome {
    for bad in [64, ANY_CPU - 1] {
        let r = caps::set_affinity(slots::SELF, bad);
        ensure(r == Err(Error::InvalidArgument), || {
            format!("CPU {bad}: {r:?}")
        })?;
    }
    let me = step("INFO", caps::info(slots::SELF))?;
    ensure(me.affinity.is_none(), || {
        format!("affinity became {:?}", me.affinity)
    })?;
    step("any CPU", caps::set_affinity(slots::SELF, ANY_CPU))
}
