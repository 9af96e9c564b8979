//! The Tessera kernel binary: everything lives in the library; this only links it.
#![no_std]
#![no_main]

use tessera_kernel as _;
