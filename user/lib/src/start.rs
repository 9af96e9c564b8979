//! `_start`, `exit` and the panic handler.
//!
//! Guarantees: `_start` is at [`ENTRY`] (the linker script asserts it), so init can restart
//! any program there with a new argument word; the stack is 16-byte aligned at entry
//! (`abi::boot::STACK_TOP`) and `rdi` holds the argument word; a program whose `main`
//! returns, or that panics, halts itself (after printing the panic's message and location).

use crate::{invoke, slots};
use tessera_abi::order;

/// The address of every program's `_start` (first in `.text`, at the image base of `user.ld`).
pub const ENTRY: u64 = 0x40_0000;

core::arch::global_asm!(
    r#"
    .section .text._start, "ax"
    .global _start
_start:
    xor ebp, ebp
    call tessera_start
    ud2
"#
);

extern "C" {
    fn tessera_main(arg: u64);
}

#[no_mangle]
extern "C" fn tessera_start(arg: u64) -> ! {
    // SAFETY: `tessera_main` is the program's entry, defined by `entry!`.
    unsafe { tessera_main(arg) };
    exit()
}

/// Ends the program: it halts itself through its own process capability ([`slots::SELF`]);
/// without one it waits forever for a message it ignores.
pub fn exit() -> ! {
    let _ = invoke::call(slots::SELF, order::process::HALT, &[], &[]);
    loop {
        let _ = invoke::wait();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    match info.location() {
        Some(at) => crate::println!("panic: {} at {}:{}", info.message(), at.file(), at.line()),
        None => crate::println!("panic: {}", info.message()),
    }
    exit()
}
