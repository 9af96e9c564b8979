//! A user thread's register save area, as the arch layer fills it: every general register,
//! RIP, RSP, RFLAGS and why it last left user mode (`UserContext`), and apart from it the
//! FXSAVE image of its x87/SSE state (`FxState`). The layout is fixed by the assembly in
//! `entry.rs` (offsets are checked at compile time). The two are apart because the core copies
//! save areas by value: 176 bytes rather than 688 on every invocation.
//!
//! Vector registers: the whole FXSAVE image is saved on every exit from user mode and restored
//! on every entry, voluntary (`syscall`) or not. So a process sees its own SSE state and never
//! another's, and kernel code may use SSE freely. (The ABI also declares XMM registers
//! caller-saved across a system call, which leaves room for a fast path that zeroes them
//! instead of saving them.) AVX is not enabled (CR4.OSXSAVE stays clear), so no wider state
//! exists to leak.

use core::mem::offset_of;

#[repr(C, align(16))]
#[derive(Clone)]
pub struct UserContext {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    /// Why the thread last left user mode: vector, error code, CR2 (for page faults).
    pub exit_vector: u64,
    pub exit_error: u64,
    pub exit_cr2: u64,
}

/// The FXSAVE image of a thread: x87, MXCSR and XMM0-15.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FxState(pub [u8; 512]);

impl FxState {
    /// The state after `fninit` and the default MXCSR: what a new thread starts with.
    pub const fn initial() -> FxState {
        let mut a = [0u8; 512];
        a[0] = 0x7f;
        a[1] = 0x03;
        a[24] = 0x80;
        a[25] = 0x1f;
        FxState(a)
    }

    /// Values loaded into MXCSR must not set reserved bits, or `fxrstor` faults in the kernel.
    pub fn sanitize_mxcsr(&mut self) {
        self.0[26] = 0;
        self.0[27] = 0;
    }
}

pub const OFF_RIP: usize = offset_of!(UserContext, rip);
pub const OFF_RSP: usize = offset_of!(UserContext, rsp);
pub const OFF_RFLAGS: usize = offset_of!(UserContext, rflags);
pub const OFF_EXIT_VECTOR: usize = offset_of!(UserContext, exit_vector);
const _: () = assert!(OFF_RIP == 15 * 8);

/// RFLAGS bits a user thread may control: the arithmetic flags, DF and AC. IF is forced on
/// (user code always takes interrupts); IOPL, NT, VM, TF stay clear.
const USER_FLAGS: u64 = 0xcd5 | (1 << 10) | (1 << 18);
const IF: u64 = 1 << 9;

impl UserContext {
    /// A fresh thread at `entry` with stack `stack_top`.
    pub fn new(entry: u64, stack_top: u64) -> Self {
        UserContext {
            rax: 0,
            rbx: 0,
            rcx: 0,
            rdx: 0,
            rsi: 0,
            rdi: 0,
            rbp: 0,
            r8: 0,
            r9: 0,
            r10: 0,
            r11: 0,
            r12: 0,
            r13: 0,
            r14: 0,
            r15: 0,
            rip: entry,
            rsp: stack_top,
            rflags: IF | 2,
            exit_vector: 0,
            exit_error: 0,
            exit_cr2: 0,
        }
    }

    /// The RFLAGS the thread will run with: its own arithmetic flags, interrupts on.
    pub fn sanitized_rflags(&self) -> u64 {
        (self.rflags & USER_FLAGS) | IF | 2
    }
}
