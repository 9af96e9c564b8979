//! Ending a QEMU run with a verdict, through the isa-debug-exit device at port 0xf4.
//!
//! QEMU exits with `(value << 1) | 1`: 0x10 → 33 (pass), 0x20 → 65 (fail) — codes QEMU never
//! produces on its own. Without the device the write is ignored; the kernel then says so and
//! halts instead of hanging silently.

use x86_64::instructions::port::Port;

const DEBUG_EXIT_PORT: u16 = 0xf4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    Success = 0x10,
    Failure = 0x20,
}

pub fn exit(code: ExitCode) -> ! {
    // SAFETY: port 0xf4 is the isa-debug-exit device or nothing; writing it has no other effect.
    unsafe { Port::<u32>::new(DEBUG_EXIT_PORT).write(code as u32) };
    crate::console::emergency_write(format_args!(
        "BUG: QEMU isa-debug-exit device missing (add -device isa-debug-exit,iobase=0xf4,iosize=0x04); halting\n"
    ));
    crate::cpu::halt_forever()
}
