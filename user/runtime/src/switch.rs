//! The chore switch: saves the six callee-saved general registers on the current stack, stores
//! the stack pointer in the save area, loads the other stack pointer and restores from there
//! (fifteen instructions, as lean as Go's or Boost.Context's without its FPU option). The same
//! code runs on a Linux host and in ring 3: it touches no privileged state.
//!
//! A chore that exits leaves by `exit_switch`, which resumes the next context after calling
//! `retire(exited)` on that context's stack: the exited chore is off its own stack by then,
//! and no other switch path has to look for one to retire.
//!
//! Guarantees: `switch` returns when some other switch resumes the saved stack pointer; a fresh
//! stack made by `initial_frame` starts in `entry(data)` with a SysV-aligned stack, the VP's
//! MXCSR and x87 control word, and `entry` must never return.
//! Assumes: chores leave the MXCSR and x87 control word as they found them (the SysV ABI makes
//! their control bits callee-saved, and Rust code never changes them): they belong to the VP,
//! not the chore, and are not switched.

core::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".global tessera_rt_switch",
    "tessera_rt_switch:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov [rdi], rsp",
    "mov rsp, rsi",
    ".Ltessera_rt_restore:",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".p2align 4",
    ".global tessera_rt_exit_switch",
    "tessera_rt_exit_switch:",
    "mov rsp, rdi",
    "mov rdi, rsi",
    // A saved stack pointer is 8 past a 16-byte boundary (below six registers and a return
    // address): the call needs the boundary.
    "sub rsp, 8",
    "call rdx",
    "add rsp, 8",
    "jmp .Ltessera_rt_restore",
    ".p2align 4",
    ".global tessera_rt_start",
    "tessera_rt_start:",
    "mov rdi, r12",
    "call r13",
    "ud2",
);

extern "C" {
    fn tessera_rt_switch(save: *mut usize, resume: usize);
    fn tessera_rt_exit_switch(resume: usize, exited: usize, retire: extern "C" fn(usize)) -> !;
    fn tessera_rt_start();
}

/// Words of the frame `initial_frame` lays down: r15..rbp, return address.
const FRAME_WORDS: usize = 7;

/// Saves the current context's stack pointer in `*save` and resumes `resume`.
///
/// # Safety
/// `save` must be writable; `resume` must be a stack pointer saved by `switch` or made by
/// `initial_frame`, whose stack is alive and not running anywhere else.
#[inline]
pub(crate) unsafe fn switch(save: *mut usize, resume: usize) {
    debug_assert_ne!(
        resume,
        crate::vp::PENDING,
        "resuming a chore still switching away"
    );
    // SAFETY: the caller's contract; the routine saves and restores every callee-saved register.
    unsafe { tessera_rt_switch(save, resume) }
}

/// Leaves the current stack for good: resumes `resume` after calling `retire(exited)` on the
/// stack being resumed, below the context saved there.
///
/// # Safety
/// As `switch`'s `resume`; the current stack is never resumed again, and `retire` must not
/// switch.
#[inline]
pub(crate) unsafe fn exit_switch(resume: usize, exited: usize, retire: extern "C" fn(usize)) -> ! {
    debug_assert_ne!(
        resume,
        crate::vp::PENDING,
        "resuming a chore still switching away"
    );
    // SAFETY: the caller's contract; the resumed context's registers are restored as by
    // `switch`, after `retire`, which as a C function keeps them for us.
    unsafe { tessera_rt_exit_switch(resume, exited, retire) }
}

/// Lays down on the stack ending at `top` a frame that `switch` resumes as a call of
/// `entry(data)`; returns the stack pointer to resume.
///
/// # Safety
/// `[top - 128, top)` must be writable memory of a stack no one runs on.
#[inline(always)]
pub(crate) unsafe fn initial_frame(
    top: usize,
    entry: extern "C" fn(usize) -> !,
    data: usize,
) -> usize {
    // Once the frame is popped, `tessera_rt_start` calls `entry` with a 16-byte aligned stack.
    let aligned = top & !15;
    let sp = aligned - FRAME_WORDS * 8;
    let frame = sp as *mut u64;
    let words: [u64; FRAME_WORDS] = [
        0,                         // r15
        0,                         // r14
        entry as *const () as u64, // r13: called by tessera_rt_start
        data as u64,               // r12: its argument
        0,                         // rbx
        0,                         // rbp: ends frame-pointer walks
        tessera_rt_start as *const () as u64,
    ];
    for (i, w) in words.iter().enumerate() {
        // SAFETY: the caller gave us this stack; `sp..aligned` lies inside it.
        unsafe { frame.add(i).write(*w) };
    }
    sp
}
