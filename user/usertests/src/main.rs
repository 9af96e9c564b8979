//! usertests: runs the test suite (`tessera-suite`); in test mode (`InitArg::test`) it then
//! shuts the machine down with the verdict, so `cargo xtask test` reads the summary line and
//! QEMU's exit code.
#![no_std]
#![forbid(unsafe_code)]
#![no_main]

use tessera_user::abi::boot::InitArg;
use tessera_user::{console, entry, println};

entry!(main);

fn main(arg: u64) {
    let arg = InitArg::unpack(arg);
    let sum = tessera_suite::run(arg.tsc_hz);
    if arg.test {
        let e = console::shutdown(sum.failed == 0);
        println!("usertests: could not shut down: {e:?}");
    }
}
