//! Programs log through the `log` facade: every record goes to the console as
//! `[LEVEL] text`, like the kernel's, at the level the kernel command line asked for
//! (`loglevel=`, handed to programs in their [`InitArg`]). Until [`init`] runs nothing is
//! printed (the facade's default level is off).

use core::fmt::Arguments;
use tessera_abi::boot::InitArg;
use tessera_console_log::{level_from_raw, Console, Print};

/// The console server, as `println!` writes to it.
struct Server;

impl Print for Server {
    fn print(args: Arguments<'_>) {
        crate::console::print_fmt(args);
    }
}

static CONSOLE: Console<Server> = Console::new();

/// Installs the console logger at the level in `arg`.
pub fn init(arg: InitArg) {
    tessera_console_log::install(&CONSOLE, level_from_raw(arg.log_level));
}
