//! The kernel's logger behind the `log` facade: every record goes to the console as
//! `[LEVEL] text`. The level comes from the command line (`loglevel=off|error|warn|info|debug|
//! trace`, default `info`). Any crate linked into the kernel, the core included, logs through
//! `log`'s macros and reaches the same console.

use core::fmt::Arguments;
use log::LevelFilter;
use tessera_console_log::{Console, Print};

/// COM1, as `kprintln!` writes it.
struct Com1;

impl Print for Com1 {
    fn print(args: Arguments<'_>) {
        crate::console::write_fmt(args);
    }
}

static CONSOLE: Console<Com1> = Console::new();

/// Installs the logger at the level `loglevel=` on `cmdline` asks for, else `info`. Called
/// once, first thing at boot, so every record of the boot is judged by the asked level.
pub fn init(cmdline: &str) {
    tessera_console_log::install(&CONSOLE, LevelFilter::Info);
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
