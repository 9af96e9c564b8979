//! Handlers for CPU exceptions taken in ring 0. In the kernel an exception is a bug, except at
//! a listed probe instruction (`mem::probe`) or a deliberate `int3`: everything else panics
//! with the vector, error code, CR2, the registers and a backtrace from the faulting frame.

use crate::cpu::percpu::percpu;
use crate::mem::probe;
use crate::trap::frame::TrapFrame;
use crate::trap::vectors::exception_name;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use x86_64::structures::idt::PageFaultErrorCode;

/// The frame a panic should describe; set just before an exception panics.
pub static PANIC_FRAME: AtomicPtr<TrapFrame> = AtomicPtr::new(core::ptr::null_mut());

pub static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);
pub static LAST_BREAKPOINT_RIP: AtomicU64 = AtomicU64::new(0);
/// While nonzero, a breakpoint handled at a smaller trap depth raises another one: the kernel
/// tests use this to nest traps on purpose.
pub static NEST_BREAKPOINTS_TO: AtomicU32 = AtomicU32::new(0);

pub fn report_frame(frame: &mut TrapFrame) {
    PANIC_FRAME.store(frame, Ordering::Release);
}

fn fault(frame: &mut TrapFrame, detail: core::fmt::Arguments) -> ! {
    report_frame(frame);
    let v = frame.vector as u8;
    panic!(
        "unhandled {} (vector {v}) in ring 0, error code {:#x}{detail}",
        exception_name(v),
        frame.error
    );
}

pub fn kernel_fault(frame: &mut TrapFrame) {
    fault(frame, format_args!(""));
}

pub fn nmi(frame: &mut TrapFrame) {
    fault(frame, format_args!(" (no NMI source is expected)"));
}

pub fn breakpoint(frame: &mut TrapFrame) {
    BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
    LAST_BREAKPOINT_RIP.store(frame.rip, Ordering::Relaxed);
    if percpu().trap_depth() < NEST_BREAKPOINTS_TO.load(Ordering::Relaxed) {
        x86_64::instructions::interrupts::int3();
    }
}

pub fn general_protection(frame: &mut TrapFrame) {
    if let Some(fixup) = probe::fixup_for(frame.rip) {
        frame.rip = fixup;
        return;
    }
    fault(frame, format_args!(""));
}

pub fn page_fault(frame: &mut TrapFrame) {
    let cr2 = x86_64::registers::control::Cr2::read_raw();
    if let Some(fixup) = probe::fixup_for(frame.rip) {
        frame.rip = fixup;
        return;
    }
    let e = PageFaultErrorCode::from_bits_truncate(frame.error);
    let access = if e.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
        "instruction fetch"
    } else if e.contains(PageFaultErrorCode::CAUSED_BY_WRITE) {
        "write"
    } else {
        "read"
    };
    let present = e.contains(PageFaultErrorCode::PROTECTION_VIOLATION);
    let cause = if present {
        "protection violation"
    } else {
        "page not present"
    };
    let guard = if crate::mem::stacks::in_stack_region(cr2) && !present {
        " — kernel stack overflow into a guard page"
    } else {
        ""
    };
    fault(
        frame,
        format_args!(", CR2 {cr2:#x}: {access}, {cause}{guard}"),
    );
}
