//! What the system is: the programs init starts ([`PROGRAMS`], in `programs.rs`, the one file
//! to edit to add a program), and the capability slots they find filled ([`slots`]).
//!
//! Read by init, which loads, prepares and starts each program as its entry says, and by
//! xtask, which builds the crate of each entry (and init) and packs its binary into the boot
//! archive. Hubris's `app.toml` is the model; a Rust table needs no parser in ring 3.
//!
//! Guarantees (checked by this crate's tests): names are distinct; every program's process
//! slot lies in [`PROGRAM_SLOTS`]; every endpoint is to a program of the table; no two grants
//! of one program fill the same slot, and none fills a slot from [`slots::FREE`] up.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod programs;
pub mod slots;

pub use programs::PROGRAMS;

/// init's name, and its crate's: the kernel loads it, so it is no entry of [`PROGRAMS`].
pub const INIT: &str = "init";

/// Where init keeps the programs' processes, entry `i` at `PROGRAM_SLOTS.start + i`; the shell
/// gets them at the same slots (`Cap::EveryProgram`).
pub const PROGRAM_SLOTS: core::ops::Range<u8> = 8..slots::FREE;
const _: () = assert!(
    PROGRAM_SLOTS.start > tessera_abi::boot::init::SERIAL_PORTS,
    "over the slots the kernel fills in init"
);

/// What the kernel was asked to do, which decides the programs init starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    /// A normal boot: the shell.
    Normal,
    /// `test=user`: the user test suite.
    Test,
    /// `bench`: the benchmarks.
    Bench,
    /// `test=fuzz`: the hostile-program fuzzer.
    Fuzz,
}

impl Boot {
    /// The boot init's argument word describes.
    pub fn of(arg: tessera_abi::boot::InitArg) -> Boot {
        if arg.test {
            Boot::Test
        } else if arg.fuzz {
            Boot::Fuzz
        } else if arg.bench {
            Boot::Bench
        } else {
            Boot::Normal
        }
    }
}

/// When init resumes a program (it loads and prepares every one it finds in the archive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Starts {
    /// In every boot, before the others (servers the rest need).
    Always,
    /// Only in this kind of boot.
    In(Boot),
}

/// The argument word a program starts with (`rdi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// init's own `InitArg`: the boot's mode, the CPUs, the log level, the TSC rate.
    Init,
    /// The `FuzzArg` the kernel put in the boot archive's header page.
    Fuzz,
}

/// A capability a program gets, and where it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// Its own process (at its ceiling), from init.
    OwnProcess,
    /// Its own address space, from init, which made it while loading the program.
    OwnSpace,
    /// A sub-bank of the boot bank, from init: `pages` of quota, or `idle_pages` in a boot
    /// that does not start the program (a sub-bank's quota is charged to the boot bank).
    Bank {
        /// Quota in a boot that starts the program.
        pages: u64,
        /// Quota otherwise.
        idle_pages: u64,
    },
    /// An endpoint to the program named `server`, with `badge`.
    Endpoint {
        /// The program the endpoint reaches.
        server: &'static str,
        /// The badge its messages carry.
        badge: u64,
    },
    /// COM1's interrupt line, from the kernel through init.
    SerialIrq,
    /// init's own process.
    Init,
    /// Every program's process, each at its own slot of `PROGRAM_SLOTS` (the grant's slot
    /// is the first of them), so that `ps` and `kill` see what init sees.
    EveryProgram,
}

impl Cap {
    /// A bank of `pages` in every boot.
    pub const fn bank(pages: u64) -> Cap {
        Cap::Bank {
            pages,
            idle_pages: pages,
        }
    }
}

/// One capability a program finds in `slot` when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The program's slot (`slots` names them).
    pub slot: u8,
    /// What goes there.
    pub cap: Cap,
}

/// One program of the system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program {
    /// Its crate under `user/`, its binary and its file in the boot archive; `ps` shows it.
    pub name: &'static str,
    /// The priority it runs at.
    pub priority: u64,
    /// The highest priority it may give itself or what it creates.
    pub ceiling: u64,
    /// The CPU it is pinned to, or `None` for any.
    pub cpu: Option<u8>,
    /// When init resumes it.
    pub starts: Starts,
    /// Its argument word.
    pub arg: Arg,
    /// The I/O-port range (`abi::boot::io_ports`) it may use, granted by init from the kernel's.
    pub io_ports: Option<u32>,
    /// The capabilities it starts with.
    pub caps: &'static [Grant],
}

impl Program {
    /// Whether init resumes it in a boot of kind `boot`.
    pub fn starts_in(&self, boot: Boot) -> bool {
        match self.starts {
            Starts::Always => true,
            Starts::In(b) => b == boot,
        }
    }
}

/// The slot where init (and the shell) keeps the process of `PROGRAMS[index]`.
pub const fn program_slot(index: usize) -> u8 {
    PROGRAM_SLOTS.start + index as u8
}

/// The index in [`PROGRAMS`] of the program named `name`.
pub fn index_of(name: &str) -> Option<usize> {
    PROGRAMS.iter().position(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        assert!(
            PROGRAMS.len() <= PROGRAM_SLOTS.len(),
            "more programs than process slots"
        );
        for (i, p) in PROGRAMS.iter().enumerate() {
            assert!(PROGRAM_SLOTS.contains(&program_slot(i)));
            assert_ne!(p.name, INIT);
            assert_eq!(index_of(p.name), Some(i), "{} is named twice", p.name);
            assert!(
                p.priority <= p.ceiling,
                "{}: priority above its ceiling",
                p.name
            );
            for (j, g) in p.caps.iter().enumerate() {
                assert!(
                    g.slot > 0 && g.slot < slots::FREE,
                    "{}: slot {} is the program's own",
                    p.name,
                    g.slot
                );
                assert!(
                    p.caps[j + 1..].iter().all(|h| h.slot != g.slot),
                    "{}: slot {} twice",
                    p.name,
                    g.slot
                );
                let every = g.cap == Cap::EveryProgram;
                assert_eq!(
                    PROGRAM_SLOTS.contains(&g.slot),
                    every,
                    "{}: slot {} and the programs' slots",
                    p.name,
                    g.slot
                );
                assert!(
                    !every || g.slot == PROGRAM_SLOTS.start,
                    "{}: the programs' slots start at theirs",
                    p.name
                );
                if let Cap::Endpoint { server, .. } = g.cap {
                    assert!(
                        index_of(server).is_some(),
                        "{}: an endpoint to unknown {server}",
                        p.name
                    );
                }
            }
        }
        assert_eq!(index_of("she"), None);
        assert_eq!(index_of("shell").map(program_slot), Some(9));
    }

    #[test]
    fn every_boot_starts_the_servers_and_one_front_program() {
        for boot in [Boot::Normal, Boot::Test, Boot::Bench, Boot::Fuzz] {
            let started: usize = PROGRAMS
                .iter()
                .filter(|p| p.starts == Starts::In(boot))
                .count();
            assert!(started >= 1, "{boot:?} starts nothing of its own");
            for p in PROGRAMS.iter().filter(|p| p.starts_in(boot)) {
                for g in p.caps {
                    if let Cap::Endpoint { server, .. } = g.cap {
                        let s = &PROGRAMS[index_of(server).unwrap()];
                        assert!(
                            s.starts_in(boot),
                            "{} needs {server}, which {boot:?} does not start",
                            p.name
                        );
                    }
                }
            }
        }
    }
}
