//! Every user program's `build.rs` calls [`program`]: it links the binary freestanding (our
//! own `_start`, no C runtime, static, not PIE) at the addresses `user.ld` gives. Debug
//! sections are left out: init copies every program into memory, and nothing reads them.
#![forbid(unsafe_code)]

/// Prints the link arguments of a user program.
pub fn program() {
    let ld = concat!(env!("CARGO_MANIFEST_DIR"), "/user.ld");
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
        "-Wl,--strip-debug",
        "-Wl,-z,max-page-size=4096",
        "-Wl,-z,noexecstack",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{ld}");
    println!("cargo:rerun-if-changed={ld}");
}
