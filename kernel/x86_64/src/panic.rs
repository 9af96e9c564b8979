//! The panic handler: says where, what, the registers of the faulting frame if an exception
//! caused the panic, and a backtrace; then ends the run with the failure code (or, when a
//! kernel test expects this panic, with success).
//!
//! Nothing here takes a lock: the console is written with `emergency_write`, since the
//! panicking CPU may hold the console lock.

use crate::backtrace;
use crate::console::emergency_write;
use crate::qemu_exit::{exit, ExitCode};
use crate::trap::exception::PANIC_FRAME;
use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

/// A fixed buffer to format the message into, so a test can match it.
pub struct FmtBuf {
    buf: [u8; 256],
    len: usize,
}

impl FmtBuf {
    pub const fn new() -> Self {
        FmtBuf {
            buf: [0; 256],
            len: 0,
        }
    }
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("<message is not UTF-8>")
    }
}

impl Write for FmtBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    if PANICKING.swap(true, Ordering::AcqRel) {
        emergency_write(format_args!(
            "\nnested panic on CPU {}: {}\n",
            crate::cpu::current_id_or_boot(),
            info.message()
        ));
        crate::cpu::halt_forever();
    }
    let mut msg = FmtBuf::new();
    let _ = write!(msg, "{}", info.message());
    let cpu = crate::cpu::current_id_or_boot();
    emergency_write(format_args!(
        "\n!!! KERNEL PANIC on CPU {cpu}: {}\n",
        msg.as_str()
    ));
    if let Some(loc) = info.location() {
        emergency_write(format_args!(
            "  at {}:{}:{}\n",
            loc.file(),
            loc.line(),
            loc.column()
        ));
    }
    let frame = PANIC_FRAME.swap(core::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: a non-null PANIC_FRAME points at the trap frame of the exception now panicking,
    // still on its trap stack below us.
    if let Some(frame) = unsafe { frame.as_ref() } {
        emergency_write(format_args!(
            "  CR2 {:#018x}\n{}\n",
            x86_64::registers::control::Cr2::read_raw(),
            frame
        ));
        backtrace::print(frame.rip, frame.rbp);
    } else {
        backtrace::print(panic as *const () as u64, backtrace::current_rbp());
    }
    if crate::ktest::panic_expected(msg.as_str()) {
        exit(ExitCode::Success);
    }
    exit(ExitCode::Failure)
}
