//! What a program finds when it starts: the capability slots and registers the kernel (for
//! init) or init (for the programs it starts) fills in.
//!
//! Every program starts at its ELF entry point with `rsp` = [`STACK_TOP`] (16-byte aligned)
//! and `rdi` = its argument word.

/// The top of every program's initial stack (exclusive).
pub const STACK_TOP: u64 = 0x0000_7fff_ffff_0000;
/// Pages of initial stack below [`STACK_TOP`].
pub const STACK_PAGES: u64 = 16;

/// Capability slots of init, filled by the kernel.
pub mod init {
    /// The boot bank: every page of memory init may use or hand out.
    pub const BANK: u8 = 1;
    /// init's own process.
    pub const SELF: u8 = 2;
    /// The interrupt line of the first serial port (COM1), for the serial driver.
    pub const SERIAL_IRQ: u8 = 3;
    /// The first slot of the programs the kernel loaded from the boot archive (halted, in
    /// archive order, init excluded): slot `PROGRAMS + i` holds program `i`'s process.
    pub const PROGRAMS: u8 = 8;
}
