//! Interrupt vector assignment.

/// The legacy 8259 PICs are remapped here and masked; only their spurious vectors can arrive.
pub const PIC_BASE: u8 = 0x20;
/// IOAPIC input `gsi` arrives at `IRQ_BASE + gsi`.
pub const IRQ_BASE: u8 = 0x30;
pub const IRQ_LINES: u8 = 24;
pub const TIMER: u8 = 0xef;
/// Another CPU asks this one to look at its run queue (needResched).
pub const IPI_RESCHEDULE: u8 = 0xf0;
pub const SPURIOUS: u8 = 0xff;

pub const fn exception_name(v: u8) -> &'static str {
    match v {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack-segment fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 floating point",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD floating point",
        20 => "#VE virtualization",
        21 => "#CP control protection",
        _ => "reserved exception",
    }
}
