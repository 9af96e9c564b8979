//! bench: runs the benchmarks (`tessera-benches`), or the SMP scaling ones with
//! `InitArg::scaling`; in bench mode (`InitArg::bench`) it then
//! shuts the machine down with success, so `cargo xtask bench` records the lines. With
//! `InitArg::profile` the benchmarks call their profile markers (`cargo xtask profile`).
#![no_std]
#![forbid(unsafe_code)]
#![no_main]

use tessera_user::abi::boot::InitArg;
use tessera_user::{console, entry, println};

entry!(main);

fn main(arg: u64) {
    let mode = InitArg::unpack(arg);
    tessera_user::clock::set_tsc_hz(mode.tsc_hz);
    if mode.scaling {
        tessera_benches::scaling::run(mode.cpus, mode.tsc_hz);
    } else {
        tessera_benches::set_profile(mode.profile);
        tessera_benches::run();
    }
    if mode.bench {
        let e = console::shutdown(true);
        println!("bench: could not shut down: {e:?}");
    }
}
