//! bench: runs the benchmarks (`tessera-benches`); in bench mode (`InitArg::bench`) it then
//! shuts the machine down with success, so `cargo xtask bench` records the lines.
#![no_std]
#![no_main]

use tessera_user::abi::boot::InitArg;
use tessera_user::{console, entry, println};

entry!(main);

fn main(arg: u64) {
    tessera_user::clock::set_tsc_hz(InitArg::unpack(arg).tsc_hz);
    tessera_benches::run();
    if InitArg::unpack(arg).bench {
        let e = console::shutdown(true);
        println!("bench: could not shut down: {e:?}");
    }
}
