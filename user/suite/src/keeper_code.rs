//! The code of the fault-keeper tests' helper processes: like [`crate::helpers`], tiny
//! position-independent routines with no stack and no data, copied into one page
//! ([`crate::spawn::spawn_code`]), with labels on the instructions that fault so the tests know
//! the RIP a fault must carry.
//!
//! Every routine that finishes POSTs one word to [`REPORT`] with order [`REPORTED`] and then
//! halts itself.

use crate::helpers::{REPORT, REPORTED};
use tessera_user::abi::message::{InvocationKind, MessageInfo};
use tessera_user::abi::order;
use tessera_user::{echo, slots};

const POST_REPORT: u64 = MessageInfo::new(InvocationKind::Post, REPORTED, 1, 0).pack();
const CALL_HALT: u64 = MessageInfo::new(InvocationKind::Call, order::process::HALT, 0, 0).pack();
const CALL_PLUS_ONE: u64 = MessageInfo::new(InvocationKind::Call, echo::PLUS_ONE, 1, 0).pack();
const WAIT: u64 = MessageInfo::new(InvocationKind::Return, 0, 0, 0).pack();

core::arch::global_asm!(
    r#"
    .section .text.tessera_keeper_helpers, "ax"
    .global tessera_keeper_code_start
tessera_keeper_code_start:

    /* Reader: r13 = 1, then reads the word at rdi (the fault to fix) and reports it plus r13. */
tessera_keeper_reader:
    mov r13d, 1
    mov r12, rdi
tessera_keeper_reader_fault:
    mov rdx, [r12]
    add rdx, r13
    jmp tessera_keeper_report

    /* Trapper: r12 = rdi, r13 = 0; ud2, a division by zero and an int3, each to be skipped by
       its keeper, which counts them in r13; reports r13. */
tessera_keeper_trapper:
    mov r12, rdi
    xor r13d, r13d
tessera_keeper_trapper_ud:
    ud2
    xor ecx, ecx
    xor edx, edx
    mov eax, 1
tessera_keeper_trapper_de:
    div rcx
tessera_keeper_trapper_bp:
    int3
    mov rdx, r13
    jmp tessera_keeper_report

    /* Waiter: an open wait (RETURN through Null); it must never be given a message. */
tessera_keeper_waiter:
    xor edi, edi
    movabs rsi, {wait}
    xor eax, eax
    syscall
    ud2

    /* Echo caller: CALLs echo PLUS_ONE with rdi (stalls while echo is held), then ud2. */
tessera_keeper_echo_caller:
    mov rdx, rdi
    mov edi, {echo}
    movabs rsi, {call_plus_one}
    xor eax, eax
    syscall
    ud2

    /* Rcx reporter: reports rcx, which only a register write can have set. */
tessera_keeper_rcx_reporter:
    mov rdx, rcx
    jmp tessera_keeper_report

    /* Reporter: reports rdi (its argument). */
tessera_keeper_reporter:
    mov rdx, rdi

tessera_keeper_report:
    mov edi, {report}
    movabs rsi, {post_report}
    xor eax, eax
    syscall
    mov edi, {self_}
    movabs rsi, {call_halt}
    xor eax, eax
    syscall
    ud2
    .global tessera_keeper_code_end
tessera_keeper_code_end:

    .section .rodata.tessera_keeper_helpers, "a"
    .balign 8
    .global tessera_keeper_offsets
tessera_keeper_offsets:
    .quad tessera_keeper_reader - tessera_keeper_code_start
    .quad tessera_keeper_reader_fault - tessera_keeper_code_start
    .quad tessera_keeper_trapper - tessera_keeper_code_start
    .quad tessera_keeper_trapper_ud - tessera_keeper_code_start
    .quad tessera_keeper_trapper_de - tessera_keeper_code_start
    .quad tessera_keeper_trapper_bp - tessera_keeper_code_start
    .quad tessera_keeper_waiter - tessera_keeper_code_start
    .quad tessera_keeper_echo_caller - tessera_keeper_code_start
    .quad tessera_keeper_reporter - tessera_keeper_code_start
    .quad tessera_keeper_rcx_reporter - tessera_keeper_code_start
"#,
    echo = const slots::ECHO,
    report = const REPORT,
    self_ = const slots::SELF,
    post_report = const POST_REPORT,
    call_halt = const CALL_HALT,
    call_plus_one = const CALL_PLUS_ONE,
    wait = const WAIT,
);

extern "C" {
    static tessera_keeper_code_start: u8;
    static tessera_keeper_code_end: u8;
    static tessera_keeper_offsets: [u64; 10];
}

/// A label in the code: an entry point or a faulting instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// Entry: sets r13 = 1, reads the word at its argument, reports it plus r13.
    Reader = 0,
    /// The reader's load (a page fault when nothing is mapped there).
    ReaderFault = 1,
    /// Entry: r12 = its argument, r13 = 0; three faults to skip; reports r13.
    Trapper = 2,
    /// The trapper's `ud2` (2 bytes).
    TrapperUd = 3,
    /// The trapper's `div rcx` by zero (3 bytes).
    TrapperDe = 4,
    /// The trapper's `int3` (1 byte).
    TrapperBp = 5,
    /// Entry: waits in the open, forever.
    Waiter = 6,
    /// Entry: CALLs echo PLUS_ONE with its argument.
    EchoCaller = 7,
    /// Entry: reports its argument.
    Reporter = 8,
    /// Entry: reports rcx.
    RcxReporter = 9,
}

/// The code, as bytes.
pub fn code() -> &'static [u8] {
    tessera_user::assembled_bytes!(tessera_keeper_code_start, tessera_keeper_code_end)
}

/// Where `label` is within [`code`].
pub fn offset(label: Label) -> u64 {
    // SAFETY: the table is read-only data written by the assembler above.
    unsafe { tessera_keeper_offsets[label as usize] }
}
