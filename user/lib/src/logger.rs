//! Programs log through the `log` facade: every record goes to the console as
//! `[LEVEL] text`, like the kernel's, at the level the kernel command line asked for
//! (`loglevel=`, handed to programs in their [`InitArg`]). Until [`init`] runs nothing is
//! printed (the facade's default level is off).

use log::{Level, LevelFilter, Log, Metadata, Record};
use tessera_abi::boot::InitArg;

struct Console;

static CONSOLE: Console = Console;

impl Log for Console {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            crate::println!("[{}] {}", tag(r.level()), r.args());
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

/// Installs the console logger at the level in `arg`.
pub fn init(arg: InitArg) {
    // Only a second call could fail, and the logger would be this one anyway.
    let _ = log::set_logger(&CONSOLE);
    log::set_max_level(match arg.log_level {
        0 => LevelFilter::Off,
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    });
}
