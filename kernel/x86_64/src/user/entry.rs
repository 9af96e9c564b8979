//! Entering and leaving ring 3 on the CPU's one kernel stack.
//!
//! `run_user(ctx)` saves the kernel's callee-saved registers and stack pointer in the per-CPU
//! block, loads the thread's registers from `ctx` and enters ring 3 with `sysretq` (after a
//! `syscall`) or `iretq` (after anything else, or for a new thread). The thread
//! leaves user mode in one of two ways:
//! - `syscall` (`syscall_entry`): registers are saved into `ctx` (the process's own save area
//!   in the core, so nothing is copied), and on the kernel stack (below `run_user`'s frame,
//!   which stays as it is) `syscall_direct` runs the system call.
//!   Either it returns straight to user mode by `sysretq` (`system/user_return.rs`), or
//!   `run_user` returns `EXIT_DECIDED` — no frame is left on any stack;
//! - an interrupt or exception: the trap stub saves a frame on the trap stack, `trap_primary`
//!   copies it into `ctx` and calls `user_trap_return`, a non-local return into whoever called
//!   `run_user` (seed 001, section 2.3), abandoning the trap stack.
//!
//! So the kernel's state while a thread runs is only the caller of `run_user` (the
//! scheduler), and a thread's kernel state is only its save area (DESIGN.md).

use crate::cpu::gdt::{USER_CODE, USER_DATA};
use crate::cpu::percpu::{GS_KERNEL_RSP, GS_SCRATCH, GS_USER_CTX, GS_USER_FX};
use crate::mem::layout::USER_END;
use crate::user::context::{FxState, UserContext, OFF_EXIT_VECTOR, OFF_RFLAGS, OFF_RIP, OFF_RSP};

/// The exit vector a `syscall` records in the frame (so the thread goes back by `sysretq`).
pub const EXIT_SYSCALL: u64 = 0x100;
/// `run_user`'s return value after a `syscall` whose next exit `syscall_direct` decided;
/// otherwise it returns the trap vector.
pub const EXIT_DECIDED: u64 = 0x101;

core::arch::global_asm!(
    r#"
    .text
    .global run_user_asm
run_user_asm:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov gs:[{krsp}], rsp
    mov gs:[{ctx}], rdi
    mov gs:[{fx}], rdx
    fxrstor [rdx]
    test rcx, rcx
    jnz 3f
    push {udata}
    push qword ptr [rdi + {rsp}]
    push rsi
    push {ucode}
    push qword ptr [rdi + {rip}]
    mov rax, [rdi + 0*8]
    mov rbx, [rdi + 1*8]
    mov rcx, [rdi + 2*8]
    mov rdx, [rdi + 3*8]
    mov rsi, [rdi + 4*8]
    mov rbp, [rdi + 6*8]
    mov r8,  [rdi + 7*8]
    mov r9,  [rdi + 8*8]
    mov r10, [rdi + 9*8]
    mov r11, [rdi + 10*8]
    mov r12, [rdi + 11*8]
    mov r13, [rdi + 12*8]
    mov r14, [rdi + 13*8]
    mov r15, [rdi + 14*8]
    mov rdi, [rdi + 5*8]
    swapgs
    iretq

    /* Back from a syscall: sysretq takes RIP from RCX and RFLAGS from R11, which the ABI
       gives up across a system call. Interrupts stay off until sysretq; an NMI in between
       runs on its own IST stack, so the user RSP loaded first is never used by the kernel. */
3:  mov r11, rsi
    mov rcx, [rdi + {rip}]
    mov rax, [rdi + 0*8]
    mov rbx, [rdi + 1*8]
    mov rdx, [rdi + 3*8]
    mov rsi, [rdi + 4*8]
    mov rbp, [rdi + 6*8]
    mov r8,  [rdi + 7*8]
    mov r9,  [rdi + 8*8]
    mov r10, [rdi + 9*8]
    mov r12, [rdi + 11*8]
    mov r13, [rdi + 12*8]
    mov r14, [rdi + 13*8]
    mov r15, [rdi + 14*8]
    mov rsp, [rdi + {rsp}]
    mov rdi, [rdi + 5*8]
    swapgs
    sysretq

    .global syscall_entry
syscall_entry:
    swapgs
    mov gs:[{scratch}], rax
    mov rax, gs:[{ctx}]
    mov [rax + 1*8], rbx
    mov [rax + 2*8], rcx
    mov [rax + 3*8], rdx
    mov [rax + 4*8], rsi
    mov [rax + 5*8], rdi
    mov [rax + 6*8], rbp
    mov [rax + 7*8], r8
    mov [rax + 8*8], r9
    mov [rax + 9*8], r10
    mov [rax + 10*8], r11
    mov [rax + 11*8], r12
    mov [rax + 12*8], r13
    mov [rax + 13*8], r14
    mov [rax + 14*8], r15
    mov [rax + {rip}], rcx
    mov [rax + {rflags}], r11
    mov [rax + {rsp}], rsp
    mov qword ptr [rax + {exit_vector}], {exit_syscall}
    mov rbx, gs:[{scratch}]
    mov [rax], rbx
    mov rbx, gs:[{fx}]
    fxsave [rbx]
    /* The kernel stack pointer is 8 past a 16-byte boundary (six pushes after a call). */
    mov rsp, gs:[{krsp}]
    sub rsp, 8
    call syscall_direct
    add rsp, 8
    test rax, rax
    jnz 1f
    mov rdx, gs:[{fx}]
    fxrstor [rdx]
    mov rdi, gs:[{ctx}]
    mov rsi, [rdi + {rflags}]
    jmp 3b

    .global user_trap_return
user_trap_return:
    mov rax, rdi
    mov rsp, gs:[{krsp}]
1:  pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret
"#,
    krsp = const GS_KERNEL_RSP,
    ctx = const GS_USER_CTX,
    scratch = const GS_SCRATCH,
    fx = const GS_USER_FX,
    rip = const OFF_RIP,
    rsp = const OFF_RSP,
    rflags = const OFF_RFLAGS,
    exit_vector = const OFF_EXIT_VECTOR,
    udata = const USER_DATA,
    ucode = const USER_CODE,
    exit_syscall = const EXIT_SYSCALL,
);

extern "C" {
    fn run_user_asm(ctx: *mut UserContext, rflags: u64, fx: *mut FxState, sysret: u64) -> u64;
    pub fn syscall_entry();
    fn user_trap_return(exit: u64) -> !;
}

/// Runs the thread until it leaves user mode; returns `EXIT_DECIDED` after a system call run by
/// `syscall_direct` for the CPU loop, `EXIT_SYSCALL` after one left to the caller (no loop lent
/// its state: the kernel tests of this path), or the trap vector.
/// Its SSE state is loaded from `fx` and saved back there. A thread that last left by
/// `syscall` goes back by `sysretq`, any other by `iretq` (which restores RCX and R11 too).
/// A RIP outside the user half is refused as a #GP without entering: `iretq` or `sysretq`
/// would fault on it in ring 0.
///
/// # Safety
/// The caller has loaded the thread's page tables and holds no lock; `ctx` is valid and
/// reached by nothing else but the syscall entry until the return.
pub unsafe fn run_user(ctx: *mut UserContext, fx: &mut FxState) -> u64 {
    // SAFETY: the caller's contract.
    let c = unsafe { &mut *ctx };
    if c.rip >= USER_END {
        c.exit_vector = 13;
        c.exit_error = 0;
        return 13;
    }
    fx.sanitize_mxcsr();
    let rflags = c.sanitized_rflags();
    let sysret = (c.exit_vector == EXIT_SYSCALL) as u64;
    // SAFETY: the caller's contract; the assembly returns here on the same stack with the
    // callee-saved registers restored, whichever way the thread left user mode.
    unsafe { run_user_asm(ctx, rflags, fx, sysret) }
}

/// Makes `regs` the save area the entry asm and the trap path save to and restore from: the
/// area of the process about to run on this CPU.
pub fn set_user_ctx(regs: *mut UserContext) {
    // SAFETY: writes this CPU's slot, which only the entry asm, the trap path and this CPU read.
    unsafe {
        core::arch::asm!("mov gs:[{off}], {}", in(reg) regs, off = const GS_USER_CTX, options(nostack, preserves_flags))
    };
}

/// Makes `fx` the SSE area the entry asm saves to and restores from (the direct return to
/// another process).
pub fn set_user_fx(fx: &mut FxState) {
    let p: *mut FxState = fx;
    // SAFETY: writes this CPU's slot, which only the entry asm and this CPU read.
    unsafe {
        core::arch::asm!("mov gs:[{off}], {}", in(reg) p, off = const GS_USER_FX, options(nostack, preserves_flags))
    };
}

/// The running thread's save area (for the trap path).
pub fn current_context() -> *mut UserContext {
    let p: *mut UserContext;
    // SAFETY: reads this CPU's slot, written by `run_user_asm`.
    unsafe {
        core::arch::asm!("mov {}, gs:[{off}]", out(reg) p, off = const GS_USER_CTX, options(nostack, readonly, preserves_flags))
    };
    p
}

/// The non-local return of a trap from user mode into `run_user`'s caller.
pub fn return_to_kernel(vector: u64) -> ! {
    // SAFETY: only called on a trap from ring 3, so `run_user_asm` saved the kernel stack
    // pointer and callee-saved registers, and nothing on the trap stack is needed any more.
    unsafe { user_trap_return(vector) }
}
