//! Memory accesses that may fault, and the fixup table that makes them recoverable.
//!
//! Each probe is a few instructions of assembly whose one faulting instruction is listed in the
//! `.kfixup` section with the address to resume at. The page-fault and general-protection
//! handlers consult the table (`fixup_for`) before treating a ring-0 fault as a kernel bug, so a
//! probe returns `Err(Fault)` instead of crashing. Backtraces use probes to walk frames they
//! cannot trust, the W^X tests to check that writes to text fault, and the system-call path to
//! copy user memory.

core::arch::global_asm!(
    r#"
    .text
    .global probe_read_u64_asm
probe_read_u64_asm:
    xor edx, edx
1:  mov rax, [rdi]
    ret
    .global probe_write_u8_asm
probe_write_u8_asm:
    xor edx, edx
2:  mov [rdi], sil
    ret
probe_fault:
    mov edx, 1
    ret

    .section .kfixup, "a"
    .balign 8
    .quad 1b, probe_fault
    .quad 2b, probe_fault
    .text
"#
);

#[repr(C)]
struct ProbeResult {
    value: u64,
    faulted: u64,
}

extern "C" {
    fn probe_read_u64_asm(addr: u64) -> ProbeResult;
    fn probe_write_u8_asm(addr: u64, value: u8) -> ProbeResult;
    static __kfixup_start: [u64; 2];
    static __kfixup_end: [u64; 2];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault;

pub fn read_u64(addr: u64) -> Result<u64, Fault> {
    // SAFETY: the asm reads one word; a fault on that read resumes at `probe_fault`.
    let r = unsafe { probe_read_u64_asm(addr) };
    if r.faulted == 0 {
        Ok(r.value)
    } else {
        Err(Fault)
    }
}

pub fn write_u8(addr: u64, value: u8) -> Result<(), Fault> {
    // SAFETY: the asm writes one byte where the caller asked; a fault resumes at `probe_fault`.
    let r = unsafe { probe_write_u8_asm(addr, value) };
    if r.faulted == 0 {
        Ok(())
    } else {
        Err(Fault)
    }
}

/// The resume address for a fault at `rip`, if `rip` is a listed probe instruction.
pub fn fixup_for(rip: u64) -> Option<u64> {
    // SAFETY: the linker bounds one array of (instruction, fixup) pairs in rodata.
    let table = unsafe {
        let start = core::ptr::addr_of!(__kfixup_start);
        let end = core::ptr::addr_of!(__kfixup_end);
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    };
    table.iter().find(|e| e[0] == rip).map(|e| e[1])
}
