//! The kernel's clock: nanoseconds since the machine's reset, read from the time-stamp counter
//! (which counts from zero at reset) and scaled by its frequency. The kernel hands the
//! frequency to init in [`InitArg::tsc_hz`](crate::boot::InitArg::tsc_hz) and init passes it
//! on to every program, so a program reads the clock with `rdtsc` and [`tsc_to_ns`]: no system
//! call. Kernel and programs convert with the same functions, so a deadline a program computes
//! from its own reading is the one the kernel compares against (alarm deadlines,
//! [`crate::order::alarm`]). The clock is monotonic: the TSC is invariant and synchronised
//! across CPUs on the machines the kernel runs on (it checks neither).

/// Nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// The time of TSC reading `tsc` on a TSC ticking `tsc_hz` times a second, in nanoseconds
/// (rounded down; saturates at `u64::MAX`). A zero frequency (unknown) gives zero.
pub const fn tsc_to_ns(tsc: u64, tsc_hz: u64) -> u64 {
    if tsc_hz == 0 {
        return 0;
    }
    let ns = tsc as u128 * NS_PER_SEC as u128 / tsc_hz as u128;
    if ns > u64::MAX as u128 {
        u64::MAX
    } else {
        ns as u64
    }
}

/// The first TSC reading whose time ([`tsc_to_ns`]) is at least `ns` (saturates at
/// `u64::MAX`): a timer programmed for this reading never fires before `ns`.
pub const fn ns_to_tsc(ns: u64, tsc_hz: u64) -> u64 {
    let tsc = (ns as u128 * tsc_hz as u128).div_ceil(NS_PER_SEC as u128);
    if tsc > u64::MAX as u128 {
        u64::MAX
    } else {
        tsc as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tsc_reading_of_a_time_is_never_before_it() {
        for hz in [1, 3, 999_999_937, 2_600_000_000, 1 << 47] {
            for ns in [0, 1, 999, 1_000_000, 123_456_789_012, 1 << 60] {
                let t = ns_to_tsc(ns, hz);
                if t == u64::MAX {
                    continue;
                }
                assert!(tsc_to_ns(t, hz) >= ns, "{ns} ns at {hz} Hz");
                if t > 0 {
                    assert!(
                        tsc_to_ns(t - 1, hz) < ns,
                        "the first reading, {ns} ns at {hz} Hz"
                    );
                }
            }
        }
        assert_eq!(tsc_to_ns(5, 0), 0);
        assert_eq!(tsc_to_ns(u64::MAX, 1), u64::MAX);
    }
}
