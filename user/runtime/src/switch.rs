//! The chore switch: saves the callee-saved registers (and the SSE/x87 control words, which the
//! SysV ABI also makes callee-saved) on the current stack, stores the stack pointer in the save
//! area, loads the other stack pointer and restores from there. The same code runs on a Linux
//! host and in ring 3: it touches no privileged state.
//!
//! Guarantees: `switch` returns when some other switch resumes the saved stack pointer; a fresh
//! stack made by `initial_frame` starts in `entry(data)` with a SysV-aligned stack, and `entry`
//! must never return.

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
    "sub rsp, 8",
    "stmxcsr [rsp]",
    "fnstcw [rsp + 4]",
    "mov [rdi], rsp",
    "mov rsp, rsi",
    "ldmxcsr [rsp]",
    "fldcw [rsp + 4]",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".p2align 4",
    ".global tessera_rt_start",
    "tessera_rt_start:",
    "mov rdi, r12",
    "call r13",
    "ud2",
);

extern "C" {
    fn tessera_rt_switch(save: *mut usize, resume: usize);
    fn tessera_rt_start();
}

/// Default MXCSR (all exceptions masked, round to nearest) and x87 control word.
const MXCSR_DEFAULT: u64 = 0x1f80;
const FPUCW_DEFAULT: u64 = 0x037f;

/// Words of the frame `initial_frame` lays down: control words, r15..rbp, return address.
const FRAME_WORDS: usize = 8;

/// Saves the current context's stack pointer in `*save` and resumes `resume`.
///
/// # Safety
/// `save` must be writable; `resume` must be a stack pointer saved by `switch` or made by
/// `initial_frame`, whose stack is alive and not running anywhere else.
#[inline]
pub(crate) unsafe fn switch(save: *mut usize, resume: usize) {
    // SAFETY: the caller's contract; the routine saves and restores every callee-saved register.
    unsafe { tessera_rt_switch(save, resume) }
}

/// Lays down on the stack ending at `top` a frame that `switch` resumes as a call of
/// `entry(data)`; returns the stack pointer to resume.
///
/// # Safety
/// `[top - 128, top)` must be writable memory of a stack no one runs on.
pub(crate) unsafe fn initial_frame(
    top: usize,
    entry: extern "C" fn(usize) -> !,
    data: usize,
) -> usize {
    let aligned = top & !15;
    let sp = aligned - FRAME_WORDS * 8;
    let frame = sp as *mut u64;
    let words: [u64; FRAME_WORDS] = [
        MXCSR_DEFAULT | (FPUCW_DEFAULT << 32),
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
