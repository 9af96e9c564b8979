//! The symbols a `#![no_std]` binary for `x86_64-unknown-linux-gnu` needs and would otherwise
//! take from libc: `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp`; and `rust_eh_personality`,
//! which the precompiled `core` names in its unwind tables although `panic = "abort"` never
//! calls it. Shared by the kernel and every user program.
//!
//! The copies use `rep movsq` for whole words and `rep movsb` for the rest, in assembly, so the
//! compiler cannot turn their bodies back into calls to themselves. Words rather than bytes:
//! as fast on hardware, and eight times fewer iterations, each of which QEMU's `-icount`
//! counts as an instruction.
#![no_std]

use core::arch::asm;

/// # Safety
/// As C's `memcpy`: `dst` and `src` valid for `n` bytes, not overlapping.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract; n/8 words then n%8 bytes, forward (DF is clear).
    unsafe {
        asm!(
            "rep movsq", "mov rcx, {tail}", "rep movsb",
            tail = in(reg) n % 8,
            inout("rcx") n / 8 => _, inout("rdi") dst => _, inout("rsi") src => _,
            options(nostack, preserves_flags)
        )
    };
    dst
}

/// # Safety
/// As C's `memmove`: both ranges valid for `n` bytes; they may overlap.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: a forward copy is correct when dst is below src or past its end.
        return unsafe { memcpy(dst, src, n) };
    }
    // SAFETY: backward copy from the last byte, with the direction flag set only for it.
    unsafe {
        asm!(
            "std", "rep movsb", "cld",
            inout("rcx") n => _, inout("rdi") dst.add(n - 1) => _, inout("rsi") src.add(n - 1) => _,
            options(nostack)
        )
    };
    dst
}

/// # Safety
/// As C's `memset`: `dst` valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    let word = (c as u8 as u64) * 0x0101_0101_0101_0101;
    // SAFETY: the caller's contract; n/8 words then n%8 bytes, forward.
    unsafe {
        asm!(
            "rep stosq", "mov rcx, {tail}", "rep stosb",
            tail = in(reg) n % 8,
            inout("rcx") n / 8 => _, inout("rdi") dst => _, in("rax") word,
            options(nostack, preserves_flags)
        )
    };
    dst
}

/// # Safety
/// As C's `memcmp`: both pointers valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: i < n, within the caller's ranges.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return x as i32 - y as i32;
        }
    }
    0
}

/// # Safety
/// As `memcmp`; only equality is reported.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// Never called: panics abort.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}
