//! CPU numbers and the one place the maximum CPU count is fixed.
//!
//! Guarantees: a `CpuId` is always below `MAX_CPUS`, so per-CPU arrays indexed by it never go
//! out of bounds. Assumes: the platform numbers its CPUs densely from 0 (the boot CPU).

/// How many CPUs the kernel supports; sizes every per-CPU array (transaction numbers, pins).
pub const MAX_CPUS: usize = 8;

/// A CPU number, `0..MAX_CPUS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuId(u8);

impl CpuId {
    /// The boot CPU.
    pub const BOOT: CpuId = CpuId(0);

    /// The CPU numbered `n`, or `None` if the kernel does not support that many CPUs.
    pub const fn new(n: usize) -> Option<CpuId> {
        if n < MAX_CPUS {
            // Fits: MAX_CPUS is far below 256.
            Some(CpuId(n as u8))
        } else {
            None
        }
    }

    /// This CPU's index into per-CPU arrays.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// Every supported CPU, in order.
    pub fn all() -> impl Iterator<Item = CpuId> {
        (0..MAX_CPUS).filter_map(CpuId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_cpu_numbers_past_the_maximum() {
        assert_eq!(CpuId::new(MAX_CPUS), None);
        assert_eq!(CpuId::new(usize::MAX), None);
        assert_eq!(
            CpuId::new(MAX_CPUS - 1).map(CpuId::index),
            Some(MAX_CPUS - 1)
        );
    }

    #[test]
    fn all_lists_every_cpu_once() {
        let all: Vec<usize> = CpuId::all().map(CpuId::index).collect();
        assert_eq!(all, (0..MAX_CPUS).collect::<Vec<_>>());
    }
}
