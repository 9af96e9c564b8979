//! The primary trap handler (seed 000, section 5), in assembly: one small stub per vector
//! pushes the vector (and a zero where the CPU pushes no error code), then `trap_common` saves
//! every general register into the save area on the trap stack and calls `trap_primary`, which
//! dispatches through the vector table to the Rust handlers.
//!
//! Every vector runs on an IST stack (`percpu.rs` says which), so a trap in ring 0 never writes
//! below the interrupted code's stack pointer: the red zone of the host ABI stays intact.
//! `swapgs` happens only when the trap came from ring 3; then the thread's SSE state is saved
//! into its FXSAVE area at once, before any Rust code can touch a vector register.

core::arch::global_asm!(
    r#"
    .text
    .balign 16
    .global trap_stubs
trap_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    push vec
    .else
    push 0
    push vec
    .endif
    jmp trap_common
    .set vec, vec + 1
    .endr

    .global trap_common
trap_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    test byte ptr [rsp + 18*8], 3
    jz 1f
    swapgs
    mov rax, gs:[{user_fx}]
    fxsave [rax]
1:  mov rdi, rsp
    cld
    call trap_primary
    .global trap_return
trap_return:
    test byte ptr [rsp + 18*8], 3
    jz 2f
    swapgs
2:  pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq
"#,
    user_fx = const crate::cpu::percpu::GS_USER_FX,
);

extern "C" {
    static trap_stubs: [u8; 256 * 16];
}

/// The entry address of vector `v`'s stub (each is 16-byte aligned, one per 16 bytes).
pub fn stub_address(v: u8) -> u64 {
    core::ptr::addr_of!(trap_stubs) as u64 + v as u64 * 16
}
