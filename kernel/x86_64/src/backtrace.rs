//! Frame-pointer backtraces (the kernel is built with `-C force-frame-pointers=yes`). Every
//! read goes through a probe, so a corrupt chain ends the walk instead of faulting again.
//! `cargo xtask` appends symbol names to the `#N 0x...` lines.

use crate::console::emergency_write;
use crate::mem::probe;

const MAX_FRAMES: usize = 32;

pub fn print(rip: u64, rbp: u64) {
    emergency_write(format_args!("  backtrace:\n    #0 {rip:#018x}\n"));
    let mut fp = rbp;
    for i in 1..MAX_FRAMES {
        if fp == 0 || !fp.is_multiple_of(8) {
            break;
        }
        let (Ok(next), Ok(ret)) = (probe::read_u64(fp), probe::read_u64(fp + 8)) else {
            break;
        };
        if ret == 0 {
            break;
        }
        emergency_write(format_args!("    #{i} {ret:#018x}\n"));
        if next <= fp {
            break;
        }
        fp = next;
    }
}

pub fn current_rbp() -> u64 {
    let rbp: u64;
    // SAFETY: reads a register.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags))
    };
    rbp
}
