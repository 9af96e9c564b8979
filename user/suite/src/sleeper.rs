//! Naps that lose no message: the tester sleeps by CALLing a sleeper, a process of its own
//! address space that arms an alarm for the deadline in the CALL, waits for the alarm's POST
//! and replies. The tester waits in a CALL's closed wait, which takes only the reply, so the
//! reports, fault messages and CALLs sent to it meanwhile stay queued for its next wait (a
//! `Timer` sleep waits in the open wait and would take, and drop, them).
//!
//! Assumes: the tester holds its own address space in `slots::task::SPACE`, the clock's
//! frequency is known (`clock::set_tsc_hz`), and the slots [`PROCESS`], [`ALARM`] and
//! [`TO_SLEEPER`] are free while a [`Sleeper`] lives. Guarantees: a nap never ends early (the
//! kernel POSTs an alarm only once its deadline has passed); the sleeper's process and alarm
//! go back to `slots::BANK` when it is dropped.

use crate::tester::{drain, ensure, step, Outcome, ENDPOINT};
use tessera_user::abi::message::{CapWord, InvocationKind, MessageInfo, RESUME_RECV_SLOT};
use tessera_user::abi::order::alarm;
use tessera_user::abi::post::ALARM_FIRED;
use tessera_user::abi::{CapType, Rights};
use tessera_user::{caps, clock, invoke, slots};

/// The tester's slot for the sleeper's process.
const PROCESS: u8 = 16;
/// The tester's slot for the sleeper's alarm.
const ALARM: u8 = 17;
/// The tester's slot for an endpoint to the sleeper (the tester CALLs it, the alarm POSTs to it).
const TO_SLEEPER: u8 = 18;
/// The sleeper's own slots: its alarm, the endpoint to itself, the resume capability of the
/// CALL it answers.
const OWN_ALARM: u8 = 1;
const OWN_ENDPOINT: u8 = 2;
const OWN_RESUME: u8 = 3;
const BADGE: u64 = 0x5133_9e00;

const WAIT: u64 = MessageInfo::new(InvocationKind::Return, 0, 0, 0).pack();
const REPLY: u64 = MessageInfo::new(InvocationKind::Return, 0, 1, 0).pack();
const ARM: u64 = MessageInfo::new(InvocationKind::Call, alarm::ARM, 3, 1).pack();
const RECV_RESUME: u64 = {
    let mut recv = [0; 4];
    recv[RESUME_RECV_SLOT] = OWN_RESUME;
    CapWord { send: [0; 4], recv }.pack()
};
const SEND_ENDPOINT: u64 = CapWord {
    send: [OWN_ENDPOINT, 0, 0, 0],
    recv: [0; 4],
}
.pack();

// The sleeper runs without a stack. Each CALL's word 0 is a deadline; it ARMs its alarm with
// it, waits for the alarm's POST, and replies with ARM's error code (0: it slept).
core::arch::global_asm!(
    r#"
    .section .text.tessera_sleeper, "ax"
    .global tessera_sleeper
tessera_sleeper:
    xor edi, edi
    movabs rsi, {wait}
    movabs rax, {recv_resume}
    syscall
2:
    mov edi, {own_alarm}
    movabs rsi, {arm}
    xor r10d, r10d
    xor r8d, r8d
    movabs rax, {send_endpoint}
    syscall
    mov r12, rax
    test rax, rax
    jnz 4f
3:
    xor edi, edi
    movabs rsi, {wait}
    xor eax, eax
    syscall
    shr rsi, 32
    cmp esi, {alarm_fired}
    jne 3b
4:
    mov rdx, r12
    mov edi, {own_resume}
    movabs rsi, {reply}
    movabs rax, {recv_resume}
    syscall
    jmp 2b
"#,
    wait = const WAIT,
    reply = const REPLY,
    arm = const ARM,
    recv_resume = const RECV_RESUME,
    send_endpoint = const SEND_ENDPOINT,
    own_alarm = const OWN_ALARM,
    own_resume = const OWN_RESUME,
    alarm_fired = const ALARM_FIRED,
);

extern "C" {
    fn tessera_sleeper();
}

/// A sleeper process, running and waiting for the tester's CALLs.
pub struct Sleeper(());

impl Sleeper {
    /// Makes and starts a sleeper at the tester's priority.
    pub fn new() -> Result<Sleeper, alloc::string::String> {
        ensure(clock::tsc_hz() != 0, || {
            "the clock's frequency is unknown".into()
        })?;
        let me = step("INFO", caps::info(slots::SELF))?;
        step(
            "create the sleeper",
            caps::create(slots::BANK, CapType::Process, PROCESS),
        )?;
        let sleeper = Sleeper(());
        step(
            "create its alarm",
            caps::create(slots::BANK, CapType::Alarm, ALARM),
        )?;
        step(
            "endpoint to it",
            caps::make_endpoint(PROCESS, BADGE, TO_SLEEPER),
        )?;
        step("its space", caps::set_space(PROCESS, slots::task::SPACE))?;
        step(
            "its entry",
            caps::set_entry(PROCESS, tessera_sleeper as *const () as u64, 0, 0),
        )?;
        step(
            "its priority",
            caps::set_priority(PROCESS, u64::from(me.priority)),
        )?;
        step(
            "give it its alarm",
            caps::set_cap(PROCESS, OWN_ALARM, ALARM, Rights::ALL),
        )?;
        step(
            "give it its endpoint",
            caps::set_cap(PROCESS, OWN_ENDPOINT, TO_SLEEPER, Rights::ALL),
        )?;
        step("start it", caps::resume(PROCESS))?;
        Ok(sleeper)
    }

    /// Waits at least `ns` nanoseconds; messages sent to the tester meanwhile stay queued.
    pub fn nap(&self, ns: u64) -> Outcome {
        let deadline = clock::now_ns().saturating_add(ns);
        let r = step(
            "CALL the sleeper",
            invoke::call(TO_SLEEPER, 0, &[deadline], &[]),
        )?;
        ensure(r.data[0] == 0, || {
            alloc::format!("the sleeper's ARM failed with code {}", r.data[0])
        })
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = caps::halt(PROCESS);
        for slot in [PROCESS, ALARM] {
            let _ = caps::destroy(slots::BANK, slot);
        }
    }
}

/// The order of the POST the tester sends itself before a nap.
const KEPT: u32 = 0x5133;

/// A POST the tester sent itself before a nap is still there after it, and the nap did not end
/// early (a `Timer` sleep in the open wait would have taken and dropped the POST).
pub fn nap_keeps_messages_queued() -> Outcome {
    let sleeper = Sleeper::new()?;
    step("post to self", invoke::post(ENDPOINT, KEPT, 1))?;
    let asked = 2_000_000;
    let start = clock::now_ns();
    sleeper.nap(asked)?;
    let slept = clock::now_ns() - start;
    let mut kept = 0;
    drain(|m| kept += u32::from(m.order() == KEPT && m.data[0] == 1))?;
    ensure(kept == 1, || {
        alloc::format!("the POST sent before the nap was received {kept} times after it")
    })?;
    ensure(slept >= asked, || {
        alloc::format!("a nap of {asked} ns ended after {slept} ns")
    })
}
