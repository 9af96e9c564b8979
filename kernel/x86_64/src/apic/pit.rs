//! The 8254 PIT, used once: channel 2 as a stopwatch to calibrate the local APIC timer.

use x86_64::instructions::port::Port;

const PIT_HZ: u64 = 1_193_182;

/// Runs `start` then busy-waits `ms` milliseconds of PIT time, then runs `stop`.
pub fn measure<T>(ms: u64, start: impl FnOnce(), stop: impl FnOnce() -> T) -> T {
    let count = (PIT_HZ * ms / 1000) as u16;
    let mut gate = Port::<u8>::new(0x61);
    let mut mode = Port::<u8>::new(0x43);
    let mut ch2 = Port::<u8>::new(0x42);
    // SAFETY: channel 2 and its gate at port 0x61 are used by nothing else; the speaker bit is
    // kept off.
    unsafe {
        let g = gate.read();
        gate.write((g & !0x02) & !0x01);
        mode.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0 (count down once), binary
        ch2.write(count as u8);
        ch2.write((count >> 8) as u8);
        start();
        gate.write((g & !0x02) | 0x01);
        while gate.read() & 0x20 == 0 {
            core::hint::spin_loop();
        }
    }
    stop()
}
