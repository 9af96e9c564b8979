//! What a program finds when it starts: the capability slots and registers the kernel (for
//! init) or init (for the programs it starts) fills in.
//!
//! Every program starts at its ELF entry point with `rsp` = [`STACK_TOP`] (16-byte aligned)
//! and `rdi` = its argument word. init's argument word is [`InitArg`].

/// The top of every program's initial stack (exclusive).
pub const STACK_TOP: u64 = 0x0000_7fff_ffff_0000;
/// Pages of initial stack below [`STACK_TOP`].
pub const STACK_PAGES: u64 = 16;

/// Where the kernel maps the boot archive into init's address space, read-only: a header
/// page ([`ARCHIVE_MAGIC`] in word 0, the archive's length in bytes in word 1, the packed
/// [`FuzzArg`] in word 2 when [`InitArg::fuzz`] is set), then the archive itself from
/// `ARCHIVE_VA + 4096` (a ustar archive, read by the `tessera-bootfs` crate).
pub const ARCHIVE_VA: u64 = 0x0000_0010_0000_0000;
/// Word 0 of the archive's header page.
pub const ARCHIVE_MAGIC: u64 = u64::from_le_bytes(*b"TSRBOOT1");

/// Capability slots of init, filled by the kernel.
pub mod init {
    /// The boot bank: every page of memory init may use or hand out.
    pub const BANK: u8 = 1;
    /// init's own process.
    pub const SELF: u8 = 2;
    /// The interrupt line of the first serial port (COM1), for the serial driver.
    pub const SERIAL_IRQ: u8 = 3;
    /// init's own address space (to map pages while it loads programs).
    pub const SPACE: u8 = 4;
    /// An [`IoPorts`](crate::CapType::IoPorts) capability to [`super::io_ports::SERIAL`]:
    /// COM1 and QEMU's debug-exit port, for the serial driver.
    pub const SERIAL_PORTS: u8 = 5;
}

/// init's argument word: what the kernel was asked to do, and the TSC's frequency (so user
/// code can turn `rdtsc` into time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitArg {
    /// Run the user-level test suite, print its verdict and shut the machine down.
    pub test: bool,
    /// Run the benchmarks, print them (`bench: <name> <instructions per op> <iterations>`) and
    /// shut the machine down.
    pub bench: bool,
    /// Run the hostile-program fuzzer (`fuzz`) with the [`FuzzArg`] in word 2 of the archive's
    /// header page, print its verdict and shut the machine down.
    pub fuzz: bool,
    /// With `bench`: run the SMP scaling benchmarks instead (`bench scaling` on the command
    /// line), which measure time, not instructions.
    pub scaling: bool,
    /// With `bench`: the profile mode (`bench profile` on the command line), in which each
    /// benchmark timed per operation runs one more operation between two marker calls, for
    /// `cargo xtask profile` to single-step.
    pub profile: bool,
    /// CPUs the kernel runs on (1 to 255).
    pub cpus: u8,
    /// The most detailed log level programs print, as the kernel command line's `loglevel=`
    /// asked: 0 off, 1 error, 2 warn, 3 info, 4 debug, 5 trace (the `log` crate's order).
    pub log_level: u8,
    /// TSC ticks per second (below 2^48).
    pub tsc_hz: u64,
}

impl InitArg {
    const TEST: u64 = 1 << 63;
    const BENCH: u64 = 1 << 62;
    const FUZZ: u64 = 1 << 61;
    const SCALING: u64 = 1 << 60;
    const PROFILE: u64 = 1 << 59;
    const CPUS_SHIFT: u32 = 48;
    const LOG_SHIFT: u32 = 56;
    const LOG_MASK: u64 = 0b111;
    const HZ: u64 = (1 << 48) - 1;

    /// Packs into the argument word.
    pub const fn pack(self) -> u64 {
        (self.test as u64 * Self::TEST)
            | (self.bench as u64 * Self::BENCH)
            | (self.fuzz as u64 * Self::FUZZ)
            | (self.scaling as u64 * Self::SCALING)
            | (self.profile as u64 * Self::PROFILE)
            | ((self.cpus as u64) << Self::CPUS_SHIFT)
            | (((self.log_level as u64) & Self::LOG_MASK) << Self::LOG_SHIFT)
            | (self.tsc_hz & Self::HZ)
    }

    /// Unpacks the argument word.
    pub const fn unpack(raw: u64) -> InitArg {
        InitArg {
            test: raw & Self::TEST != 0,
            bench: raw & Self::BENCH != 0,
            fuzz: raw & Self::FUZZ != 0,
            scaling: raw & Self::SCALING != 0,
            profile: raw & Self::PROFILE != 0,
            cpus: (raw >> Self::CPUS_SHIFT) as u8,
            log_level: ((raw >> Self::LOG_SHIFT) & Self::LOG_MASK) as u8,
            tsc_hz: raw & Self::HZ,
        }
    }
}

/// A fuzz campaign (`test=fuzz seed=S count=C` on the kernel command line): the kernel puts it
/// in the archive's header page for init, and init passes it to `fuzz` as its argument word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuzzArg {
    /// Seeds every random choice of the campaign.
    pub seed: u32,
    /// Invocations to make in all (at most [`FuzzArg::MAX_COUNT`]).
    pub count: u64,
    /// CPUs online (at most 15).
    pub cpus: u32,
}

impl FuzzArg {
    /// The largest count the argument word holds (26 bits).
    pub const MAX_COUNT: u64 = (1 << 26) - 1;

    /// Packs into one word: seed in bits 0..32, count 32..58, CPUs 58..62.
    pub const fn pack(self) -> u64 {
        self.seed as u64
            | ((self.count & Self::MAX_COUNT) << 32)
            | (((self.cpus & 0xf) as u64) << 58)
    }

    /// Unpacks the word.
    pub const fn unpack(raw: u64) -> FuzzArg {
        FuzzArg {
            seed: raw as u32,
            count: (raw >> 32) & Self::MAX_COUNT,
            cpus: ((raw >> 58) & 0xf) as u32,
        }
    }
}

/// The I/O-port ranges the x86_64 kernel makes [`IoPorts`](crate::CapType::IoPorts)
/// capabilities for; a process granted a range may use its ports while it runs (the kernel
/// opens them in the TSS I/O bitmap of the CPU it runs on).
pub mod io_ports {
    /// COM1's eight registers and QEMU's isa-debug-exit port ([`super::serial_ports`]).
    pub const SERIAL: u32 = 0;
}

/// The ports of the [`io_ports::SERIAL`] range: COM1, and QEMU's isa-debug-exit device,
/// through which the serial driver ends the machine.
pub mod serial_ports {
    /// COM1's eight registers start here.
    pub const COM1: u16 = 0x3f8;
    /// Writing [`EXIT_SUCCESS`] or [`EXIT_FAILURE`] (32 bits) here ends QEMU.
    pub const DEBUG_EXIT: u16 = 0xf4;
    /// QEMU exits with 33.
    pub const EXIT_SUCCESS: u32 = 0x10;
    /// QEMU exits with 65.
    pub const EXIT_FAILURE: u32 = 0x20;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_arg_round_trips() {
        let a = InitArg {
            test: true,
            bench: false,
            fuzz: true,
            scaling: false,
            profile: true,
            cpus: 8,
            log_level: 5,
            tsc_hz: 2_000_000_000,
        };
        assert_eq!(InitArg::unpack(a.pack()), a);
        let b = InitArg {
            test: false,
            bench: true,
            scaling: true,
            profile: false,
            cpus: 255,
            log_level: 0,
            tsc_hz: InitArg::HZ,
            ..a
        };
        assert_eq!(InitArg::unpack(b.pack()), b);
        let f = FuzzArg {
            seed: u32::MAX,
            count: FuzzArg::MAX_COUNT,
            cpus: 15,
        };
        assert_eq!(FuzzArg::unpack(f.pack()), f);
        let g = FuzzArg {
            seed: 7,
            count: 1_000_000,
            cpus: 4,
        };
        assert_eq!(FuzzArg::unpack(g.pack()), g);
    }
}
