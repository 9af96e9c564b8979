//! init: the first process.
#![no_std]
#![no_main]

use tessera_user::abi::boot::init;
use tessera_user::abi::order;
use tessera_user::{entry, invoke};

entry!(main);

fn main(_arg: u64) {
    let avail = invoke::call(init::BANK, order::bank::AVAILABLE, &[], &[]).map(|r| r.data[0]).unwrap_or(0xbad);
    // SAFETY: deliberately faults at an address that encodes the answer (smoke test).
    unsafe { core::ptr::read_volatile((0x1000_0000 + avail * 8) as *const u64) };
}
