//! `_start`: the stack is 16-byte aligned at entry (`abi::boot::STACK_TOP`), `rdi` holds the
//! argument word; the program's `main` runs, and a program that returns halts itself.

use crate::invoke;
use tessera_abi::{boot, order};

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

/// Ends the program: it halts itself through its own process capability, if it holds one.
pub fn exit() -> ! {
    let _ = invoke::call(boot::init::SELF, order::process::HALT, &[], &[]);
    loop {
        let _ = invoke::wait();
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    exit()
}
