//! The kernel's logger behind the `log` facade: every record goes to the console as
//! `[LEVEL] text`. The level comes from the command line (`loglevel=off|error|warn|info|debug|
//! trace`, default `info`). Any crate linked into the kernel, the core included, logs through
//! `log`'s macros and reaches the same console.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Console;

static CONSOLE: Console = Console;

impl Log for Console {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            crate::kprintln!("[{}] {}", tag(r.level()), r.args());
        }
    }

    fn flush(&self) {}
}

fn tag(l: Level) -> &'static str {
    match l {
        Level::Error => "ERROR",
        Level::Warn => "WARN ",
        Level::Info => "INFO ",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}

/// Installs the logger at the level `loglevel=` on `cmdline` asks for, else `info`. Called
/// once, first thing at boot, so every record of the boot is judged by the asked level.
pub fn init(cmdline: &str) {
    // Only a second call could fail, and the logger would be this one anyway.
    let _ = log::set_logger(&CONSOLE);
    log::set_max_level(LevelFilter::Info);
    for asked in cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix("loglevel="))
    {
        match asked.parse::<LevelFilter>() {
            Ok(level) => log::set_max_level(level),
            Err(_) => log::warn!("cmdline: unknown log level {asked:?}"),
        }
    }
}
