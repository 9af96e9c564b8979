//! From the primary handler to the Rust handler for the vector: the Tera shape (seed 000,
//! section 5) — the primary saves state, this table picks the handler by kind of trap.
//!
//! A trap in ring 0 takes the next save area of this CPU's bounded pool (`CpuBlock::
//! enter_nested_trap`); past `TRAP_DEPTH_MAX` the kernel panics, since a deeper nest means a
//! handler is faulting over and over.

use crate::cpu::percpu::{percpu, TRAP_DEPTH_MAX};
use crate::trap::frame::TrapFrame;
use crate::trap::vectors::{IPI_RESCHEDULE, IRQ_BASE, IRQ_LINES, PIC_BASE, SPURIOUS, TIMER};
use crate::trap::{exception, interrupt};

type Handler = fn(&mut TrapFrame);

static TABLE: [Handler; 256] = build_table();

const fn build_table() -> [Handler; 256] {
    let mut t: [Handler; 256] = [interrupt::unexpected; 256];
    let mut v = 0;
    while v < 32 {
        t[v] = exception::kernel_fault;
        v += 1;
    }
    t[2] = exception::nmi;
    t[3] = exception::breakpoint;
    t[13] = exception::general_protection;
    t[14] = exception::page_fault;
    let mut v = PIC_BASE as usize;
    while v < PIC_BASE as usize + 16 {
        t[v] = interrupt::pic_spurious;
        v += 1;
    }
    let mut v = IRQ_BASE as usize;
    while v < (IRQ_BASE + IRQ_LINES) as usize {
        t[v] = interrupt::device;
        v += 1;
    }
    t[TIMER as usize] = interrupt::timer;
    t[IPI_RESCHEDULE as usize] = interrupt::reschedule_ipi;
    t[SPURIOUS as usize] = interrupt::spurious;
    t
}

#[no_mangle]
extern "C" fn trap_primary(frame: &mut TrapFrame) {
    if frame.from_user() {
        crate::user::trap::from_user(frame, TABLE[frame.vector as usize]);
    }
    let cpu = percpu();
    if let Err(depth) = cpu.enter_nested_trap() {
        exception::report_frame(frame);
        panic!(
            "nested trap depth {depth} exceeds the save-area pool of {TRAP_DEPTH_MAX} (vector {}, RIP {:#x})",
            frame.vector, frame.rip
        );
    }
    TABLE[frame.vector as usize](frame);
    cpu.leave_nested_trap();
}
