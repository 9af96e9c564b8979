//! A trap taken in ring 3: save the thread's state into its save area, do the handler's
//! minimal part for interrupts (acknowledge, pendingIRQs, needResched), and return to the
//! kernel through `return_to_kernel`. Faults are not handled here: the caller of `run_user`
//! sees the vector and decides (a fault message to the keeper, or halting the process).
//! The SSE state was saved by `trap_common` into the thread's FXSAVE area before any Rust
//! code ran.

use crate::trap::frame::TrapFrame;
use crate::user::entry::{current_context, return_to_kernel};

pub fn from_user(frame: &mut TrapFrame, interrupt: fn(&mut TrapFrame)) -> ! {
    // SAFETY: a trap from ring 3 means `run_user` is running this thread with this context.
    let ctx = unsafe { &mut *current_context() };
    ctx.rax = frame.rax;
    ctx.rbx = frame.rbx;
    ctx.rcx = frame.rcx;
    ctx.rdx = frame.rdx;
    ctx.rsi = frame.rsi;
    ctx.rdi = frame.rdi;
    ctx.rbp = frame.rbp;
    ctx.r8 = frame.r8;
    ctx.r9 = frame.r9;
    ctx.r10 = frame.r10;
    ctx.r11 = frame.r11;
    ctx.r12 = frame.r12;
    ctx.r13 = frame.r13;
    ctx.r14 = frame.r14;
    ctx.r15 = frame.r15;
    ctx.rip = frame.rip;
    ctx.rsp = frame.rsp;
    ctx.rflags = frame.rflags;
    ctx.exit_vector = frame.vector;
    ctx.exit_error = frame.error;
    ctx.exit_cr2 = if frame.vector == 14 {
        x86_64::registers::control::Cr2::read_raw()
    } else {
        0
    };
    if frame.vector >= 32 {
        interrupt(frame);
    }
    return_to_kernel(frame.vector)
}
