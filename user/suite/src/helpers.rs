//! Helper processes' code: tiny position-independent routines that need no stack and no data,
//! so a helper runs from one copied page ([`crate::spawn`]) in an address space of its own.
//!
//! Assumes: a helper's slots are [`slots::SELF`] (its process), [`slots::ECHO`] and
//! [`REPORT`] (an endpoint to the tester); it starts with `rdi` = its argument.

use tessera_user::abi::message::{CapWord, InvocationKind, MessageInfo};
use tessera_user::abi::order;
use tessera_user::{echo, slots};

/// The helper's slot for the endpoint to the tester.
pub const REPORT: u8 = 5;
/// A pair client's slot for the endpoint it POSTs its `REPORTED` word to when done.
pub const DONE: u8 = 6;
/// A pair server's slot for the resume capability of the CALL it answers.
const SERVER_RESUME: u8 = 6;
/// The order of a helper's report POST: `seq << 32 | id`.
pub const REPORTED: u32 = 0x77;
/// A kernel address: the top 2 GiB, where every kernel maps its image.
const KERNEL_ADDRESS: u64 = 0xffff_ffff_8000_0000;

const CALL_SEQ: u64 = MessageInfo::new(InvocationKind::Call, echo::SEQ, 1, 0).pack();
const POST_REPORT: u64 = MessageInfo::new(InvocationKind::Post, REPORTED, 1, 0).pack();
const CALL_HALT: u64 = MessageInfo::new(InvocationKind::Call, order::process::HALT, 0, 0).pack();
const POST_COUNT: u64 = MessageInfo::new(InvocationKind::Post, echo::COUNT, 1, 0).pack();
const CALL_YIELD: u64 = MessageInfo::new(InvocationKind::Call, order::process::YIELD, 0, 0).pack();
const CALL_PING: u64 = MessageInfo::new(InvocationKind::Call, 1, 0, 0).pack();
const RETURN_WAIT: u64 = MessageInfo::new(InvocationKind::Return, 0, 0, 0).pack();
const RETURN_TWO: u64 = MessageInfo::new(InvocationKind::Return, 0, 2, 0).pack();
const RECV_RESUME: u64 = CapWord {
    send: [0; 4],
    recv: [0, 0, 0, SERVER_RESUME],
}
.pack();

core::arch::global_asm!(
    r#"
    .section .text.tessera_helpers, "ax"
    .global tessera_helpers_start
tessera_helpers_start:
tessera_helper_read_kernel:
    movabs rax, {kernel}
    mov rax, [rax]
    ud2
tessera_helper_jump_kernel:
    movabs rax, {kernel}
    jmp rax
tessera_helper_privileged:
    cli
    hlt
    ud2
tessera_helper_spin:
    jmp tessera_helper_spin
tessera_helper_counter:
    inc qword ptr [rdi]
    jmp tessera_helper_counter
tessera_helper_seq_caller:
    mov r12, rdi
    mov rdx, rdi
    mov edi, {echo}
    movabs rsi, {call_seq}
    xor eax, eax
    syscall
    shl rdx, 32
    or rdx, r12
    mov edi, {report}
    movabs rsi, {post_report}
    xor eax, eax
    syscall
    mov edi, {self_}
    movabs rsi, {call_halt}
    xor eax, eax
    syscall
    ud2
tessera_helper_poster:
    mov r12, rdi
    shr r12, 32
    shl r12, 32
    mov r13d, edi
    xor r14d, r14d
tessera_helper_poster_next:
    cmp r14, r13
    jae tessera_helper_poster_done
    mov rdx, r12
    or rdx, r14
    mov edi, {echo}
    movabs rsi, {post_count}
    xor eax, eax
    syscall
    test rax, rax
    jnz tessera_helper_poster_refused
    inc r14
    jmp tessera_helper_poster_next
tessera_helper_poster_done:
    mov edi, {self_}
    movabs rsi, {call_halt}
    xor eax, eax
    syscall
tessera_helper_poster_refused:
    ud2
tessera_helper_port_io:
    mov dx, {com1}
    in al, dx
tessera_helper_port_io_allowed:
    jmp tessera_helper_port_io_allowed
tessera_helper_pair_server:
    xor edi, edi
tessera_helper_pair_server_wait:
    movabs rsi, {return_wait}
    movabs rax, {recv_resume}
    syscall
    mov edi, {server_resume}
    jmp tessera_helper_pair_server_wait
tessera_helper_pair_client:
    mov r12, rdi
    xor r13d, r13d
tessera_helper_pair_client_next:
    test r12, r12
    jz tessera_helper_pair_client_done
    mov edi, {report}
    movabs rsi, {call_ping}
    xor eax, eax
    syscall
    test rax, rax
    jnz tessera_helper_pair_client_failed
    dec r12
    jmp tessera_helper_pair_client_next
tessera_helper_pair_client_failed:
    mov r13d, 1
tessera_helper_pair_client_done:
    mov rdx, r13
    mov edi, {done}
    movabs rsi, {post_report}
    xor eax, eax
    syscall
    mov edi, {self_}
    movabs rsi, {call_halt}
    xor eax, eax
    syscall
    ud2
tessera_helper_timed_server:
    xor edi, edi
    movabs rsi, {return_wait}
    movabs rax, {recv_resume}
    syscall
tessera_helper_timed_server_got:
    rdtsc
    shl rdx, 32
    or rdx, rax
    mov r10, rdx
    mov edi, {server_resume}
    movabs rsi, {return_two}
    rdtsc
    shl rdx, 32
    or rdx, rax
    movabs rax, {recv_resume}
    syscall
    jmp tessera_helper_timed_server_got
tessera_helper_yielder:
    mov edi, {self_}
    movabs rsi, {call_yield}
    xor eax, eax
    syscall
    jmp tessera_helper_yielder
    .global tessera_helpers_end
tessera_helpers_end:
    .global tessera_helper_offsets
    .section .rodata.tessera_helpers, "a"
    .balign 8
tessera_helper_offsets:
    .quad tessera_helper_read_kernel - tessera_helpers_start
    .quad tessera_helper_jump_kernel - tessera_helpers_start
    .quad tessera_helper_privileged - tessera_helpers_start
    .quad tessera_helper_spin - tessera_helpers_start
    .quad tessera_helper_seq_caller - tessera_helpers_start
    .quad tessera_helper_poster - tessera_helpers_start
    .quad tessera_helper_yielder - tessera_helpers_start
    .quad tessera_helper_port_io - tessera_helpers_start
    .quad tessera_helper_counter - tessera_helpers_start
    .quad tessera_helper_pair_server - tessera_helpers_start
    .quad tessera_helper_pair_client - tessera_helpers_start
    .quad tessera_helper_timed_server - tessera_helpers_start
"#,
    kernel = const KERNEL_ADDRESS,
    echo = const slots::ECHO,
    report = const REPORT,
    self_ = const slots::SELF,
    call_seq = const CALL_SEQ,
    post_report = const POST_REPORT,
    call_halt = const CALL_HALT,
    post_count = const POST_COUNT,
    call_yield = const CALL_YIELD,
    call_ping = const CALL_PING,
    return_wait = const RETURN_WAIT,
    return_two = const RETURN_TWO,
    recv_resume = const RECV_RESUME,
    server_resume = const SERVER_RESUME,
    done = const DONE,
    com1 = const tessera_user::abi::boot::serial_ports::COM1,
);

extern "C" {
    static tessera_helpers_start: u8;
    static tessera_helpers_end: u8;
    static tessera_helper_offsets: [u64; 12];
}

/// What a helper does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Helper {
    /// Loads from a kernel address.
    ReadKernel = 0,
    /// Jumps to a kernel address.
    JumpKernel = 1,
    /// Runs `cli` (privileged in ring 3).
    Privileged = 2,
    /// Spins forever.
    Spin = 3,
    /// CALLs echo's SEQ with its argument, POSTs `seq << 32 | arg` to [`REPORT`], halts itself.
    SeqCaller = 4,
    /// With argument `stream << 32 | count`: POSTs echo `COUNT` with words `stream << 32 | i`
    /// for `i` in `0..count`, then halts itself; a refused POST faults (`ud2`), so it halts
    /// having posted fewer.
    Poster = 5,
    /// YIELDs forever (the context-switch benchmark's partner).
    Yielder = 6,
    /// Reads COM1's data port without an I/O-port grant; if that works, it spins (so it is
    /// seen running, not halted).
    PortIo = 7,
    /// Spins forever adding one to the word at the address in its argument (a page the
    /// tester maps writable into its space), so the tester can see it run.
    Counter = 8,
    /// Answers every CALL at once with an empty reply, forever (a scaling benchmark's server).
    PairServer = 9,
    /// With argument `n`: CALLs the endpoint in [`REPORT`] `n` times, then POSTs
    /// [`REPORTED`] to the endpoint in [`DONE`] with word 0 (1 if a CALL failed) and halts
    /// itself (a scaling benchmark's client).
    PairClient = 10,
    /// Answers every CALL at once, forever, with two words: the TSC read by its first
    /// instruction after the CALL arrived (word 1) and the TSC read just before its RETURN
    /// (word 0), three instructions before the `syscall` (the IPC benchmarks' one-way figures).
    TimedServer = 11,
}

/// The helpers' code, as bytes.
pub fn code() -> &'static [u8] {
    tessera_user::assembled_bytes!(tessera_helpers_start, tessera_helpers_end)
}

/// Where `helper` starts within [`code`].
pub fn offset(helper: Helper) -> u64 {
    // SAFETY: the table is read-only data written by the assembler above.
    unsafe { tessera_helper_offsets[helper as usize] }
}
