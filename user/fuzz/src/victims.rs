//! Victims: child processes the workers make, start, halt, resume, re-enter and destroy. Each
//! runs from one page in a space of its own, holding either a routine below or random bytes.
//!
//! Routines: spin; CALL the server in a loop; POST the server [`POSTER_POSTS`] times, then spin.
//!
//! Assumes: a victim's slot [`VICTIM_TARGET`] holds an endpoint to a server (or anything: a
//! refused invocation changes nothing), and the routines need no stack.

use crate::layout::VICTIM_TARGET;
use tessera_user::abi::message::{InvocationKind, MessageInfo};

const CALL_TARGET: u64 = MessageInfo::new(InvocationKind::Call, 1, 1, 0).pack();
const POST_TARGET: u64 = MessageInfo::new(InvocationKind::Post, 2, 1, 0).pack();
/// POSTs a poster victim makes before it spins: more than the kernel's pool holds, so it
/// drains the pool while its server is busy. Unbounded, posters kept the pool empty and every
/// worker stalled in its own POST for good on 4 CPUs (a starvation of the pool's waiters that
/// this fuzzer found and reported), which ended the fuzzing.
const POSTER_POSTS: u32 = 256;

core::arch::global_asm!(
    r#"
    .section .text.fuzz_victims, "ax"
    .global fuzz_victims_start
fuzz_victims_start:
fuzz_victim_spin:
    jmp fuzz_victim_spin
fuzz_victim_caller:
    mov edi, {target}
    movabs rsi, {call}
    xor eax, eax
    syscall
    jmp fuzz_victim_caller
fuzz_victim_poster:
    mov r12d, {posts}
fuzz_victim_poster_next:
    mov edi, {target}
    movabs rsi, {post}
    xor eax, eax
    inc rdx
    syscall
    dec r12
    jnz fuzz_victim_poster_next
fuzz_victim_poster_done:
    jmp fuzz_victim_poster_done
    .global fuzz_victims_end
fuzz_victims_end:
    .section .rodata.fuzz_victims, "a"
    .balign 8
    .global fuzz_victim_offsets
fuzz_victim_offsets:
    .quad fuzz_victim_spin - fuzz_victims_start
    .quad fuzz_victim_caller - fuzz_victims_start
    .quad fuzz_victim_poster - fuzz_victims_start
"#,
    target = const VICTIM_TARGET,
    call = const CALL_TARGET,
    post = const POST_TARGET,
    posts = const POSTER_POSTS,
);

extern "C" {
    static fuzz_victims_start: u8;
    static fuzz_victims_end: u8;
    static fuzz_victim_offsets: [u64; 3];
}

/// The routines' code, as bytes.
pub fn code() -> &'static [u8] {
    tessera_user::assembled_bytes!(fuzz_victims_start, fuzz_victims_end)
}

/// Where routine `which` (0 spin, 1 caller, 2 poster) starts within [`code`].
pub fn offset(which: usize) -> u64 {
    // SAFETY: the table is read-only data written by the assembler above.
    unsafe { fuzz_victim_offsets[which % 3] }
}
