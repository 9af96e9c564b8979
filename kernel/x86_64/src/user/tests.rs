//! Ring-3 tests: small position-independent programs, copied into a fresh address space and
//! run with `run_user`, check the system-call path both ways, that user state survives
//! interrupts, and that user code cannot touch the kernel or run privileged instructions —
//! the kernel sees the fault and goes on.

use crate::cpu::percpu::percpu;
use crate::mem::kmem::KMEM;
use crate::trap::vectors::TIMER;
use crate::user::address_space::UserSpace;
use crate::user::context::{FxState, UserContext};
use crate::user::entry::{run_user, EXIT_SYSCALL};
use crate::{check, ktest};

core::arch::global_asm!(
    r#"
    .section .rodata.user_programs, "a"
    .global up_syscall, up_syscall_end
up_syscall:
    mov eax, 42
    mov edi, 7
    syscall
    add rax, 1
    syscall
    ud2
up_syscall_end:
    .global up_sysret, up_sysret_end
up_sysret:
    syscall
    mov rbx, rcx
    syscall
    ud2
up_sysret_end:
    .global up_cli, up_cli_end
up_cli:
    cli
    ud2
up_cli_end:
    .global up_read_kernel, up_read_kernel_end
up_read_kernel:
    mov rax, [rdi]
    ud2
up_read_kernel_end:
    .global up_jump_kernel, up_jump_kernel_end
up_jump_kernel:
    jmp rdi
up_jump_kernel_end:
    .global up_spin, up_spin_end
up_spin:
    jmp up_spin
up_spin_end:
    .global up_state, up_state_end
up_state:
    movabs rax, 0x0123456789abcdef
    movq xmm7, rax
    mov r12, rax
    mov ecx, 30000000
2:  dec ecx
    jnz 2b
    movq rax, xmm7
    mov rbx, r12
    syscall
    ud2
up_state_end:
    .text
"#
);

extern "C" {
    static up_syscall: u8;
    static up_syscall_end: u8;
    static up_sysret: u8;
    static up_sysret_end: u8;
    static up_cli: u8;
    static up_cli_end: u8;
    static up_read_kernel: u8;
    static up_read_kernel_end: u8;
    static up_jump_kernel: u8;
    static up_jump_kernel_end: u8;
    static up_spin: u8;
    static up_spin_end: u8;
    static up_state: u8;
    static up_state_end: u8;
}

const CODE_VA: u64 = 0x40_0000;
const STACK_VA: u64 = 0x7fff_0000;

struct Harness {
    space: UserSpace,
    ctx: UserContext,
    fx: FxState,
}

fn program(start: &'static u8, end: &'static u8) -> &'static [u8] {
    let (s, e) = (start as *const u8, end as *const u8);
    // SAFETY: the two symbols bound one program's bytes in rodata.
    unsafe { core::slice::from_raw_parts(s, e as usize - s as usize) }
}

fn load(code: &[u8]) -> Harness {
    let mut space = UserSpace::new().expect("an address space");
    let text = space.map_fresh(CODE_VA, false, true).expect("a code page");
    // SAFETY: `text` is the direct-map address of a fresh 4 KiB frame; the programs are tiny.
    unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), text, code.len()) };
    space
        .map_fresh(STACK_VA, true, false)
        .expect("a stack page");
    space.activate();
    Harness {
        space,
        ctx: UserContext::new(CODE_VA, STACK_VA + 4096),
        fx: FxState::initial(),
    }
}

impl Harness {
    /// Runs until the thread leaves user mode for a reason other than an interrupt.
    fn run_until_exit(&mut self) -> (u64, u64) {
        let mut interrupts = 0;
        loop {
            self.space.activate();
            // SAFETY: our address space is loaded, we hold no lock, rip/rsp are user addresses.
            let exit = unsafe { run_user(&mut self.ctx, &mut self.fx) };
            if exit >= 32 && exit != EXIT_SYSCALL {
                interrupts += 1;
                continue;
            }
            return (exit, interrupts);
        }
    }
}

/// A mapped kernel text address: the first byte of the test runner's own code.
fn kernel_text() -> u64 {
    load as *const () as u64
}

fn free_frames() -> u64 {
    KMEM.lock().as_ref().map_or(0, |k| k.frames.free_frames())
}

ktest! {
    fn syscall_from_ring3_round_trips_registers() {
        // SAFETY: linker symbols bounding a program.
        let mut h = load(program(unsafe { &up_syscall }, unsafe { &up_syscall_end }));
        let (exit, _) = h.run_until_exit();
        check!(exit == EXIT_SYSCALL, "the first exit is the system call");
        check!(h.ctx.rax == 42 && h.ctx.rdi == 7, "argument registers reach the kernel");
        check!(h.ctx.rip == CODE_VA + 12 && h.ctx.rcx == h.ctx.rip, "RIP (and RCX) point after the syscall");
        h.ctx.rax = 100;
        let (exit, _) = h.run_until_exit();
        check!(exit == EXIT_SYSCALL && h.ctx.rax == 101, "the kernel's RAX reaches user code, which adds one");
        let (exit, _) = h.run_until_exit();
        check!(exit == 6, "the program ends in #UD, reported as a user fault, not a kernel panic");
    }
}

ktest! {
    fn user_state_survives_interrupts() {
        // SAFETY: linker symbols bounding a program.
        let mut h = load(program(unsafe { &up_state }, unsafe { &up_state_end }));
        let (exit, interrupts) = h.run_until_exit();
        check!(exit == EXIT_SYSCALL, "the program reaches its system call");
        check!(interrupts > 0, "timer interrupts arrived while it ran (else this test proves nothing)");
        check!(h.ctx.rax == 0x0123456789abcdef, "XMM7 survived every interrupt");
        check!(h.ctx.rbx == 0x0123456789abcdef, "R12 survived every interrupt");
    }
}

ktest! {
    fn a_spinning_thread_is_interrupted_by_the_timer() {
        // SAFETY: linker symbols bounding a program.
        let mut h = load(program(unsafe { &up_spin }, unsafe { &up_spin_end }));
        h.space.activate();
        let before = percpu().ticks.load(core::sync::atomic::Ordering::Relaxed);
        // SAFETY: as in `run_until_exit`.
        let exit = unsafe { run_user(&mut h.ctx, &mut h.fx) };
        check!(exit == TIMER as u64, "the timer takes the CPU back from a spinning thread");
        check!(h.ctx.rip == CODE_VA, "the thread was stopped inside its loop");
        check!(percpu().ticks.load(core::sync::atomic::Ordering::Relaxed) == before + 1, "the handler counted the one tick");
    }
}

ktest! {
    fn privileged_instruction_in_ring3_faults() {
        // SAFETY: linker symbols bounding a program.
        let mut h = load(program(unsafe { &up_cli }, unsafe { &up_cli_end }));
        let (exit, _) = h.run_until_exit();
        check!(exit == 13 && h.ctx.rip == CODE_VA, "cli in ring 3 is #GP at the instruction");
    }
}

ktest! {
    fn ring3_cannot_read_kernel_memory() {
        // SAFETY: linker symbols bounding a program.
        let mut h = load(program(unsafe { &up_read_kernel }, unsafe { &up_read_kernel_end }));
        h.ctx.rdi = kernel_text();
        let (exit, _) = h.run_until_exit();
        check!(exit == 14, "reading the kernel is a page fault");
        check!(h.ctx.exit_cr2 == kernel_text(), "CR2 names the kernel address");
        check!(h.ctx.exit_error == 0b101, "error code: present page, read, from user mode");
    }
}

ktest! {
    fn ring3_cannot_jump_into_the_kernel() {
        // SAFETY: linker symbols bounding a program.
        let mut h = load(program(unsafe { &up_jump_kernel }, unsafe { &up_jump_kernel_end }));
        h.ctx.rdi = kernel_text();
        let (exit, _) = h.run_until_exit();
        check!(exit == 14 && h.ctx.rip == kernel_text(), "fetching kernel code is a page fault");
        check!(h.ctx.exit_error == 0b10101, "error code: present page, instruction fetch, user mode");
    }
}

ktest! {
    fn address_spaces_return_every_frame() {
        let before = free_frames();
        for _ in 0..4 {
            // SAFETY: linker symbols bounding a program.
            let mut h = load(program(unsafe { &up_syscall }, unsafe { &up_syscall_end }));
            let _ = h.run_until_exit();
        }
        check!(free_frames() == before, "creating and dropping address spaces loses no frame");
    }
}

ktest! {
    fn a_system_call_returns_by_sysret_and_a_bad_rip_is_refused() {
        // SAFETY: linker symbols bounding a program.
        let mut h = load(program(unsafe { &up_sysret }, unsafe { &up_sysret_end }));
        let (exit, _) = h.run_until_exit();
        check!(exit == EXIT_SYSCALL, "the first exit is the system call");
        let back = h.ctx.rip;
        h.ctx.rcx = 0xdead;
        let (exit, _) = h.run_until_exit();
        check!(exit == EXIT_SYSCALL && h.ctx.rbx == back, "sysretq set RCX to the return address (iretq would have restored 0xdead)");
        h.ctx.rip = 0x0000_8000_0000_0000;
        h.space.activate();
        // SAFETY: as in `run_until_exit`; the non-canonical RIP must be refused before entry.
        let exit = unsafe { run_user(&mut h.ctx, &mut h.fx) };
        check!(exit == 13 && h.ctx.exit_vector == 13, "a non-canonical RIP is a #GP for the thread, not for the kernel");
        h.ctx.rip = crate::mem::layout::KERNEL_VMA;
        h.ctx.exit_vector = EXIT_SYSCALL;
        // SAFETY: as above.
        let exit = unsafe { run_user(&mut h.ctx, &mut h.fx) };
        check!(exit == 13, "a kernel-half RIP is refused too");
    }
}
