//! The log backend behind the `log` facade, for the kernel and the programs alike: every
//! record is one console line, `[LEVEL] text`, so a program's records read like the kernel's.
//! Each side says how it prints (its `Print`) and where its level comes from: the kernel
//! from its command line (`loglevel=`), a program from its `InitArg`, which carries the
//! kernel's level as `level_raw` encodes it.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use core::fmt::Arguments;
use core::marker::PhantomData;
use log::{Level, LevelFilter, Log, Metadata, Record};

/// How a side prints one formatted line (its newline included) on its console.
pub trait Print {
    /// Prints `args`.
    fn print(args: Arguments<'_>);
}

/// A logger printing through `P`. A type, not a function pointer, so the printer is called
/// directly.
pub struct Console<P>(PhantomData<P>);

impl<P> Console<P> {
    /// The logger.
    pub const fn new() -> Console<P> {
        Console(PhantomData)
    }
}

impl<P> Default for Console<P> {
    fn default() -> Console<P> {
        Console::new()
    }
}

impl<P: Print + Send + Sync> Log for Console<P> {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            P::print(format_args!("[{}] {}\n", tag(r.level()), r.args()));
        }
    }

    fn flush(&self) {}
}

/// The level's tag, padded so that the texts line up.
pub fn tag(l: Level) -> &'static str {
    match l {
        Level::Error => "ERROR",
        Level::Warn => "WARN ",
        Level::Info => "INFO ",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}

/// Installs `console` as the logger at `level`.
pub fn install<P: Print + Send + Sync>(console: &'static Console<P>, level: LevelFilter) {
    // Only a second call could fail, and the logger would be this one anyway.
    let _ = log::set_logger(console);
    log::set_max_level(level);
}

/// A level as one byte (`InitArg::log_level`): 0 off, then error up to trace.
pub fn level_raw(level: LevelFilter) -> u8 {
    level as u8
}

/// The level `level_raw` encoded; anything above trace is trace.
pub fn level_from_raw(raw: u8) -> LevelFilter {
    match raw {
        0 => LevelFilter::Off,
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_survives_its_byte() {
        for level in LevelFilter::iter() {
            assert_eq!(level_from_raw(level_raw(level)), level);
        }
        assert_eq!(level_from_raw(200), LevelFilter::Trace);
    }

    #[test]
    fn tags_line_up() {
        assert!(Level::iter().all(|l| tag(l).len() == 5));
    }
}
