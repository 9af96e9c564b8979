//! The capability slots every program started by init finds filled, in one place.
//!
//! Guarantees: init fills exactly these slots, as each program's entry of [`crate::PROGRAMS`]
//! says; a slot a program does not get stays Null, so using it fails with `NullCapability`
//! rather than reaching another object. Slots from [`FREE`] up are never filled by init and belong to the program.

/// A sub-bank of the boot bank (the programs whose entry gives one): quota for objects the
/// program makes.
pub const BANK: u8 = 1;
/// The program's own process (so it can halt itself, make endpoints to itself, set its caps).
pub const SELF: u8 = 2;
/// An endpoint to the serial driver: console output and input (`tessera_user::console`).
pub const CONSOLE: u8 = 3;
/// An endpoint to the echo server (shell, usertests, bench).
pub const ECHO: u8 = 4;
/// The first slot a program may use freely.
pub const FREE: u8 = 16;

/// Slots of the serial driver only.
pub mod serial {
    /// COM1's interrupt line.
    pub const IRQ: u8 = 5;
    /// An endpoint to the driver itself with [`IRQ_BADGE`], to which the line is bound.
    pub const IRQ_ENDPOINT: u8 = 6;
    /// The badge on [`IRQ_ENDPOINT`]: a message with it comes from the kernel's IRQ POST.
    pub const IRQ_BADGE: u64 = 0x017a_0001;
}

/// Slots of the shell only: process capabilities for `ps` and `kill`, at the same slots init
/// holds them (`crate::PROGRAM_SLOTS`), and init's own process at [`shell::INIT`].
pub mod shell {
    /// init's process.
    pub const INIT: u8 = 7;
}

/// Slots of usertests, bench and the shell, which run tasks of the user runtime.
pub mod task {
    /// Their own address space, where a task's virtual processors run (`user/tasks`).
    pub const SPACE: u8 = 5;
}

/// Slots of the fuzzer only.
pub mod fuzz {
    /// Its own address space, where it maps its workers' stacks.
    pub const SPACE: u8 = 5;
}

/// The badge on every console endpoint init hands out: the serial driver's clients.
pub const CONSOLE_BADGE: u64 = 0xc0;
/// The badge on every echo endpoint init hands out.
pub const ECHO_BADGE: u64 = 0xec;
