//! Control-register features every CPU turns on: NX (already on from boot), write protection,
//! SSE state, and SMEP/SMAP where the CPU model has them (QEMU's `-cpu max` does), so the
//! kernel can neither run nor silently touch user pages.

use raw_cpuid::CpuId;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};

#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    pub smep: bool,
    pub smap: bool,
}

pub fn enable() -> Features {
    let cpuid = CpuId::new();
    let ext = cpuid.get_extended_feature_info();
    let f = Features {
        smep: ext.as_ref().is_some_and(|e| e.has_smep()),
        smap: ext.as_ref().is_some_and(|e| e.has_smap()),
    };
    let mut cr4 =
        Cr4::read() | Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE | Cr4Flags::PAGE_GLOBAL;
    if f.smep {
        cr4 |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
    }
    if f.smap {
        cr4 |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
    }
    // SAFETY: these bits only add protection or enable SSE state saving; the kernel touches
    // user memory only inside `stac`/`clac` brackets once user mode exists.
    unsafe {
        Cr4::write(cr4);
        Cr0::update(|c| {
            *c = (*c | Cr0Flags::WRITE_PROTECT | Cr0Flags::MONITOR_COPROCESSOR)
                - Cr0Flags::EMULATE_COPROCESSOR
        });
    }
    f
}
