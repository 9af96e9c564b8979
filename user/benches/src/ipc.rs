//! IPC measured as sel4bench measures it: a minimal user side on both ends, so the figures are
//! the kernel's (and comparable with seL4's 194 + 221 for a fast-path call and reply).
//!
//! - `call_reply`: a CALL with no data words from an inline-asm stub to a server in another
//!   address space whose whole loop is one RETURN-and-wait `syscall` (`Helper::PairServer`):
//!   the round trip, the benchmark's loop overhead subtracted.
//! - `call_one_way` / `reply_one_way`: the same exchange with a server that reads the TSC as
//!   its first instruction after the CALL arrives and just before its RETURN
//!   (`Helper::TimedServer`). CALL one way is from the caller's `syscall` (included) to the
//!   server's first user instruction (excluded); RETURN one way from the server's `syscall`
//!   (included) to the caller's first user instruction (excluded). The user instructions the
//!   stamps themselves take on either side are counted here and taken off
//!   (`BEFORE_CALL`, `BEFORE_REPLY`, `AFTER_REPLY`). Under `-icount shift=0` a TSC read gives
//!   the number of instructions before it, so a difference of two reads counts the first read
//!   and everything up to the second.
//!
//! Assumes the slots from `SERVER` to `SERVER + 3` are free.

use core::arch::asm;

use crate::measure::{from_ticks, per_op, PerOp};
use tessera_suite::helpers::Helper;
use tessera_suite::spawn::spawn;
use tessera_user::abi::message::{InvocationKind, MessageInfo};
use tessera_user::abi::Error;
use tessera_user::{caps, invoke, slots};

/// The spawned server's slots (address space, page, process), then the endpoint to it.
const SERVER: u8 = 56;
const ENDPOINT: u8 = SERVER + 3;
const CALL: u64 = MessageInfo::new(InvocationKind::Call, 1, 0, 0).pack();
/// The caller's instructions from its first TSC read to its `syscall`: the read, `shl`, `or`,
/// `mov`, `xor`.
const BEFORE_CALL: u64 = 5;
/// The server's, from its second read to its `syscall`: the read, `shl`, `or`, `movabs`.
const BEFORE_REPLY: u64 = 4;
/// The caller's, from its return to user mode to its second read: two `mov`s.
const AFTER_REPLY: u64 = 2;

/// The round trip to a bare server, `n` times.
pub fn call_reply(n: u64) -> Result<PerOp, Error> {
    let server = spawn_server(Helper::PairServer)?;
    let r = per_op(n, &mut || {
        // SAFETY: a system call; the kernel preserves every register but rcx, r11 and the
        // reply registers named here.
        unsafe {
            asm!(
                "syscall",
                inout("rdi") u64::from(ENDPOINT) => _,
                inout("rsi") CALL => _,
                inout("rax") 0u64 => _,
                out("rdx") _, out("r10") _, out("r8") _, out("r9") _,
                out("rcx") _, out("r11") _,
                options(nostack),
            )
        };
    });
    drop(server);
    Ok(r)
}

/// CALL one way and RETURN one way (see the file header), each the mean of `n` exchanges.
pub fn one_way(n: u64) -> Result<(PerOp, PerOp), Error> {
    let server = spawn_server(Helper::TimedServer)?;
    let (mut call, mut reply) = (0u64, 0u64);
    for _ in 0..n {
        let (t0, t1, t2, t3): (u64, u64, u64, u64);
        // SAFETY: a system call between TSC reads; the kernel preserves every register but
        // rcx, r11 and the reply registers named here.
        unsafe {
            asm!(
                "lfence",
                "rdtsc",
                "shl rdx, 32",
                "or rdx, rax",
                "mov r12, rdx",
                "xor eax, eax",
                "syscall",
                "mov r13, rdx",
                "mov r14, r10",
                "rdtsc",
                "shl rdx, 32",
                "or rax, rdx",
                inout("rdi") u64::from(ENDPOINT) => _,
                inout("rsi") CALL => _,
                out("rax") t3, out("rdx") _, out("r10") _, out("r8") _, out("r9") _,
                out("r12") t0, out("r13") t2, out("r14") t1,
                out("rcx") _, out("r11") _,
                options(nostack),
            )
        };
        call += t1.wrapping_sub(t0);
        reply += t3.wrapping_sub(t2);
    }
    drop(server);
    Ok((
        from_ticks(call, BEFORE_CALL * n, n),
        from_ticks(reply, (BEFORE_REPLY + AFTER_REPLY) * n, n),
    ))
}

/// A server of `helper`'s kind at this process's priority, running, with an endpoint to it.
fn spawn_server(helper: Helper) -> Result<tessera_suite::spawn::Spawned, Error> {
    let priority = caps::info(slots::SELF)?.priority as u64;
    let server = spawn(SERVER, helper, 0, priority, 0)?;
    caps::make_endpoint(server.process(), 1, ENDPOINT)?;
    caps::resume(server.process())?;
    // The first CALL finds it not yet waiting; the measured ones find it waiting each time.
    invoke::call(ENDPOINT, 1, &[], &[])?;
    Ok(server)
}
