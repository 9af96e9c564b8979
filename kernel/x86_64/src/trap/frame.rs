//! The register save area a trap fills: general registers pushed by `trap_common`, then the
//! vector and error code pushed by the vector's stub, then the hardware's interrupt frame.
//! The layout is fixed by the assembly in `primary.rs`.

use core::fmt;

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

pub const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE == 22 * 8 && FRAME_SIZE.is_multiple_of(16));

impl TrapFrame {
    pub fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }
}

impl fmt::Display for TrapFrame {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        writeln!(
            f,
            "  RIP {:#018x}  CS {:#06x}  RFLAGS {:#010x}  RSP {:#018x}  SS {:#06x}",
            self.rip, self.cs, self.rflags, self.rsp, self.ss
        )?;
        writeln!(
            f,
            "  RAX {:#018x}  RBX {:#018x}  RCX {:#018x}  RDX {:#018x}",
            self.rax, self.rbx, self.rcx, self.rdx
        )?;
        writeln!(
            f,
            "  RSI {:#018x}  RDI {:#018x}  RBP {:#018x}  R8  {:#018x}",
            self.rsi, self.rdi, self.rbp, self.r8
        )?;
        writeln!(
            f,
            "  R9  {:#018x}  R10 {:#018x}  R11 {:#018x}  R12 {:#018x}",
            self.r9, self.r10, self.r11, self.r12
        )?;
        write!(
            f,
            "  R13 {:#018x}  R14 {:#018x}  R15 {:#018x}",
            self.r13, self.r14, self.r15
        )
    }
}
