//! The other task of the channel-between-tasks test: a helper process in an address space of
//! its own, running position-independent code ([`crate::spawn::spawn_code`]) that sends
//! messages into a ring (`tessera_runtime::SharedSender`'s protocol, written out in assembly)
//! mapped at [`RING_VA`], and POSTs the notification word it takes from a waiting receiver to
//! the owner's VP through the endpoint in [`NOTIFY_SLOT`].
//!
//! With argument `n` it sends messages `i` = 0..n with data `[i, i * i, 0, 0, 0, 0]`, tag
//! [`TAG`] and sender [`SENDER`]; on a full ring it YIELDs and tries again; then it halts. It
//! sends nothing until a receiver waits (a word in the ring), YIELDing meanwhile: the test
//! checks that a waiting receiver is woken, which a sender that ran ahead on another CPU
//! could otherwise leave unseen.

use tessera_user::abi::message::{InvocationKind, MessageInfo};
use tessera_user::abi::order;
use tessera_user::slots;

/// Where the ring is mapped in the helper's space.
pub const RING_VA: u64 = 0x300_0000;
/// The helper's slot for the endpoint to the owner's VP.
pub const NOTIFY_SLOT: u8 = 6;
/// The tag of its messages.
pub const TAG: u32 = 5;
/// The sender id in its messages (task 99, chore 1).
pub const SENDER: u64 = 99 << 32 | 1;

const POST_NOTIFY: u64 = MessageInfo::new(InvocationKind::Post, tessera_tasks::NOTIFY, 1, 0).pack();
const CALL_HALT: u64 = MessageInfo::new(InvocationKind::Call, order::process::HALT, 0, 0).pack();
const CALL_YIELD: u64 = MessageInfo::new(InvocationKind::Call, order::process::YIELD, 0, 0).pack();
const TAG_LEN: u64 = TAG as u64 | (tessera_runtime::MESSAGE_WORDS as u64) << 32;

core::arch::global_asm!(
    r#"
    .section .text.tessera_ring_sender, "ax"
    .global tessera_ring_sender_start
tessera_ring_sender_start:
    mov r12, rdi
    xor r13d, r13d
    movabs r14, {ring}
tessera_ring_sender_await:
    cmp qword ptr [r14 + 16], 0
    jne tessera_ring_sender_next
    mov edi, {self_}
    movabs rsi, {call_yield}
    xor eax, eax
    syscall
    jmp tessera_ring_sender_await
tessera_ring_sender_next:
    cmp r13, r12
    jae tessera_ring_sender_done
tessera_ring_sender_room:
    mov rax, [r14 + 8]
    sub rax, [r14]
    cmp rax, [r14 + 24]
    jb tessera_ring_sender_fill
    mov edi, {self_}
    movabs rsi, {call_yield}
    xor eax, eax
    syscall
    jmp tessera_ring_sender_room
tessera_ring_sender_fill:
    mov rax, [r14 + 8]
    xor edx, edx
    div qword ptr [r14 + 24]
    shl rdx, 6
    lea r15, [r14 + rdx + 64]
    movabs rax, {sender}
    mov [r15], rax
    movabs rax, {tag_len}
    mov [r15 + 8], rax
    mov [r15 + 16], r13
    mov rax, r13
    imul rax, r13
    mov [r15 + 24], rax
    xor eax, eax
    mov [r15 + 32], rax
    mov [r15 + 40], rax
    mov [r15 + 48], rax
    mov [r15 + 56], rax
    mov rax, [r14 + 8]
    inc rax
    xchg [r14 + 8], rax
    xor eax, eax
    xchg [r14 + 16], rax
    test rax, rax
    jz tessera_ring_sender_sent
    mov rdx, rax
    mov edi, {notify}
    movabs rsi, {post_notify}
    xor eax, eax
    syscall
tessera_ring_sender_sent:
    inc r13
    jmp tessera_ring_sender_next
tessera_ring_sender_done:
    mov edi, {self_}
    movabs rsi, {call_halt}
    xor eax, eax
    syscall
    ud2
    .global tessera_ring_sender_end
tessera_ring_sender_end:
"#,
    ring = const RING_VA,
    self_ = const slots::SELF,
    notify = const NOTIFY_SLOT,
    call_yield = const CALL_YIELD,
    call_halt = const CALL_HALT,
    post_notify = const POST_NOTIFY,
    sender = const SENDER,
    tag_len = const TAG_LEN,
);

extern "C" {
    static tessera_ring_sender_start: u8;
    static tessera_ring_sender_end: u8;
}

/// The sender's code, as bytes; it starts at offset 0.
pub fn code() -> &'static [u8] {
    tessera_user::assembled_bytes!(tessera_ring_sender_start, tessera_ring_sender_end)
}
