//! `X86Machine`: the x86_64 implementation of the core's `Platform` trait.
//! Frames are the kernel frame allocator's; their contents are reached through the direct map.

use crate::mem::kmem::KMEM;
use crate::mem::layout::{phys_to_virt, PAGE_SIZE};
use crate::system::{derived_tables, io_grants, tlb};
use crate::user::context::UserContext;
use tessera_core::cap::ObjId;
use tessera_core::fault::Translation;
use tessera_core::platform::{Frame, Platform};
use tessera_core::sync::CpuId;
use tessera_core::trace::Event;

pub struct X86Machine;

fn frame_words(f: Frame) -> *mut u64 {
    phys_to_virt(f.0 * PAGE_SIZE) as *mut u64
}

impl Platform for X86Machine {
    type SaveArea = UserContext;

    fn now_ns(&self) -> u64 {
        crate::apic::lapic::now_ns()
    }

    fn send_ipi(&self, cpu: CpuId) {
        if let Some(c) = crate::cpu::percpu::cpu(cpu.index()) {
            crate::apic::lapic::send_ipi(c.apic_id, crate::trap::vectors::IPI_RESCHEDULE);
        }
    }

    fn alloc_frame(&self) -> Option<Frame> {
        let alloc = || {
            KMEM.lock()
                .as_mut()?
                .frames
                .alloc()
                .map(|pa| Frame(pa / PAGE_SIZE))
        };
        alloc().or_else(|| {
            // This CPU is in the kernel: frames waiting only for it can be reused now.
            tlb::quiescent(crate::cpu::percpu::percpu().id);
            (tlb::reclaim() > 0).then(alloc).flatten()
        })
    }

    fn frame_freed(&self, frame: Frame) {
        tlb::free_later(frame.0 * PAGE_SIZE);
    }

    fn zero_frame(&self, frame: Frame) {
        // SAFETY: a whole frame the core owns, in the direct map.
        unsafe { core::ptr::write_bytes(frame_words(frame), 0, 512) };
    }

    fn read_frame_word(&self, frame: Frame, word: usize) -> u64 {
        assert!(word < 512, "the core checks word offsets");
        // SAFETY: in bounds of a frame the core owns.
        unsafe { frame_words(frame).add(word).read_volatile() }
    }

    fn write_frame_word(&self, frame: Frame, word: usize, value: u64) {
        assert!(word < 512, "the core checks word offsets");
        // SAFETY: in bounds of a frame the core owns.
        unsafe { frame_words(frame).add(word).write_volatile(value) }
    }

    fn mapping_removed(&self, space: ObjId, vpn: u64) {
        derived_tables::remove(space, vpn);
    }

    fn mapping_derived(&self, space: ObjId, vpn: u64, t: &Translation) -> bool {
        derived_tables::install(space, vpn, t)
    }

    fn space_destroyed(&self, space: ObjId) {
        derived_tables::destroy(space);
    }

    fn table_evicted(&self, space: ObjId, table: u64, frame: Frame) {
        derived_tables::unhook(space, table, frame.0 * PAGE_SIZE);
    }

    fn io_ports_granted(&self, process: ObjId, range: Option<u32>) {
        io_grants::set(process, range);
    }

    #[inline]
    fn irq_level_triggered(&self, line: u32) -> bool {
        u8::try_from(line).is_ok_and(crate::apic::ioapic::level_triggered)
    }

    fn set_irq_masked(&self, line: u32, masked: bool) {
        if let Ok(gsi) = u8::try_from(line) {
            crate::apic::ioapic::set_masked(gsi, masked);
        }
    }

    const TRACES: bool = crate::trace::BUILT_IN;

    #[inline(always)]
    fn trace(&self, cpu: CpuId, event: Event) {
        crate::trace::core_event(cpu.index() as u32, event);
    }

    fn trace_switch(&self, on: bool) -> u64 {
        crate::trace::switch(on)
    }
}
