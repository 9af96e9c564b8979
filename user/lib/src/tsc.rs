//! The time-stamp counter: under `-icount shift=0` it counts guest instructions, otherwise
//! it ticks at `InitArg::tsc_hz`.

/// The current TSC, read after every earlier instruction has completed (`lfence` first).
pub fn now() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: lfence and rdtsc touch no memory; rdtsc is allowed in ring 3 (CR4.TSD clear).
    unsafe {
        core::arch::asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack))
    };
    ((hi as u64) << 32) | lo as u64
}
