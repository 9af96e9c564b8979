//! The IDT, shared by all CPUs: every vector enters its stub in `primary.rs` on an IST stack.

use crate::cpu::percpu::{IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI, IST_TRAP};
use crate::trap::primary::stub_address;
use spin::Once;
use x86_64::structures::idt::InterruptDescriptorTable;
use x86_64::VirtAddr;

static IDT: Once<InterruptDescriptorTable> = Once::new();

pub fn load() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        // SAFETY: each address is the vector's own assembly stub, which saves a full frame and
        // returns with iretq; each IST slot named is set in every CPU's TSS (`CpuBlock::new`).
        unsafe {
            for v in 0..=255u8 {
                let ist = match v {
                    2 => IST_NMI,
                    8 => IST_DOUBLE_FAULT,
                    18 => IST_MACHINE_CHECK,
                    _ => IST_TRAP,
                };
                let addr = VirtAddr::new(stub_address(v));
                let opts = match v {
                    0 => idt.divide_error.set_handler_addr(addr),
                    1 => idt.debug.set_handler_addr(addr),
                    2 => idt.non_maskable_interrupt.set_handler_addr(addr),
                    3 => idt.breakpoint.set_handler_addr(addr),
                    4 => idt.overflow.set_handler_addr(addr),
                    5 => idt.bound_range_exceeded.set_handler_addr(addr),
                    6 => idt.invalid_opcode.set_handler_addr(addr),
                    7 => idt.device_not_available.set_handler_addr(addr),
                    8 => idt.double_fault.set_handler_addr(addr),
                    10 => idt.invalid_tss.set_handler_addr(addr),
                    11 => idt.segment_not_present.set_handler_addr(addr),
                    12 => idt.stack_segment_fault.set_handler_addr(addr),
                    13 => idt.general_protection_fault.set_handler_addr(addr),
                    14 => idt.page_fault.set_handler_addr(addr),
                    16 => idt.x87_floating_point.set_handler_addr(addr),
                    17 => idt.alignment_check.set_handler_addr(addr),
                    18 => idt.machine_check.set_handler_addr(addr),
                    19 => idt.simd_floating_point.set_handler_addr(addr),
                    20 => idt.virtualization.set_handler_addr(addr),
                    21 => idt.cp_protection_exception.set_handler_addr(addr),
                    28 => idt.hv_injection_exception.set_handler_addr(addr),
                    29 => idt.vmm_communication_exception.set_handler_addr(addr),
                    30 => idt.security_exception.set_handler_addr(addr),
                    9 | 15 | 22..=27 | 31 => continue,
                    _ => idt[v].set_handler_addr(addr),
                };
                opts.set_stack_index(ist - 1);
            }
        }
        idt
    });
    idt.load();
}
