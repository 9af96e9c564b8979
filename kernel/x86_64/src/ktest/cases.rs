//! The kernel's own tests: traps, the deferred-interrupt rule, W^X, guard pages, memory.

use crate::cpu::percpu::{percpu, TRAP_DEPTH_MAX};
use crate::mem::page_table::PageTableFlags;
use crate::mem::{kmem, probe};
use crate::trap::exception::{BREAKPOINTS, LAST_BREAKPOINT_RIP, NEST_BREAKPOINTS_TO};
use crate::{check, ktest};
use core::sync::atomic::Ordering;

ktest! {
    fn breakpoint_in_ring0_is_caught_and_resumed() {
        let before = BREAKPOINTS.load(Ordering::Relaxed);
        let (r12, r15): (u64, u64);
        // SAFETY: int3 traps into the breakpoint handler, which returns; the callee-saved
        // registers must survive the trap exactly.
        unsafe {
            core::arch::asm!(
                "mov r12, 0x1122334455667788", "mov r15, 0x0badc0ffee0ddf00d", "int3",
                "mov {a}, r12", "mov {b}, r15",
                a = out(reg) r12, b = out(reg) r15, out("r12") _, out("r15") _,
            );
        }
        check!(BREAKPOINTS.load(Ordering::Relaxed) == before + 1, "the handler ran exactly once");
        let rip = LAST_BREAKPOINT_RIP.load(Ordering::Relaxed);
        let here = breakpoint_in_ring0_is_caught_and_resumed as *const () as u64;
        check!(rip > here && rip < here + 4096, "the saved RIP is inside this test");
        check!(r12 == 0x1122334455667788 && r15 == 0x0badc0ffee0ddf00d, "registers survive the trap");
        check!(percpu().trap_depth() == 0, "the save area is returned to the pool");
    }
}

ktest! {
    fn nested_traps_up_to_the_pool_depth_return() {
        percpu().max_trap_depth_seen.store(0, Ordering::Relaxed);
        NEST_BREAKPOINTS_TO.store(TRAP_DEPTH_MAX, Ordering::Relaxed);
        x86_64::instructions::interrupts::int3();
        NEST_BREAKPOINTS_TO.store(0, Ordering::Relaxed);
        check!(percpu().max_trap_depth_seen.load(Ordering::Relaxed) == TRAP_DEPTH_MAX, "traps nested to the pool's depth");
        check!(percpu().trap_depth() == 0, "every save area came back");
    }
}

ktest! {
    #[should_panic = "nested trap depth 5 exceeds the save-area pool of 4"]
    fn nested_traps_past_the_pool_depth_panic() {
        NEST_BREAKPOINTS_TO.store(TRAP_DEPTH_MAX + 1, Ordering::Relaxed);
        x86_64::instructions::interrupts::int3();
    }
}

ktest! {
    #[should_panic = "unhandled #UD invalid opcode (vector 6) in ring 0"]
    fn invalid_opcode_in_ring0_is_reported() {
        // SAFETY: ud2 raises #UD on purpose; the handler panics, which is what is tested.
        unsafe { core::arch::asm!("ud2") };
    }
}

ktest! {
    #[should_panic = "unhandled #PF page fault (vector 14) in ring 0, error code 0x0, CR2 0xdead0000: read, page not present"]
    fn page_fault_in_ring0_is_reported() {
        // SAFETY: reading an unmapped address faults on purpose; the handler panics.
        unsafe { core::ptr::read_volatile(0xdead_0000 as *const u64) };
    }
}

ktest! {
    #[should_panic = "CR2 0xffffffff80"]
    fn write_to_kernel_text_faults() {
        let text = write_to_kernel_text_faults as *const () as *mut u8;
        // SAFETY: not sound at all, on purpose: the write must fault (W^X), and the handler panics.
        unsafe { core::ptr::write_volatile(text, 0xc3) };
    }
}

static mut WRITABLE_BYTE: u8 = 0;
static READ_ONLY_BYTE: u8 = 7;

ktest! {
    fn kernel_image_is_mapped_w_xor_x() {
        let text = kernel_image_is_mapped_w_xor_x as *const () as u64;
        let rodata = &READ_ONLY_BYTE as *const u8 as u64;
        let data = core::ptr::addr_of!(WRITABLE_BYTE) as u64;
        let Some((_, t)) = kmem::translate(text) else { return Err(fail("text is mapped")) };
        let Some((_, r)) = kmem::translate(rodata) else { return Err(fail("rodata is mapped")) };
        let Some((_, d)) = kmem::translate(data) else { return Err(fail("data is mapped")) };
        check!(!t.contains(PageTableFlags::WRITABLE) && !t.contains(PageTableFlags::NO_EXECUTE), "text is RX");
        check!(!r.contains(PageTableFlags::WRITABLE) && r.contains(PageTableFlags::NO_EXECUTE), "rodata is R");
        check!(d.contains(PageTableFlags::WRITABLE) && d.contains(PageTableFlags::NO_EXECUTE), "data is RW+NX");
        check!(!(t | r | d).contains(PageTableFlags::USER_ACCESSIBLE), "no kernel page is user-accessible");
        check!(probe::write_u8(text, 0x90).is_err(), "a write to text faults");
        check!(probe::write_u8(rodata, 0).is_err(), "a write to rodata faults");
        check!(probe::write_u8(data, 1).is_ok(), "a write to data succeeds");
        check!(READ_ONLY_BYTE == 7, "rodata is unchanged");
    }
}

ktest! {
    fn direct_map_is_not_executable() {
        let Some((_, f)) = kmem::translate(crate::mem::layout::phys_to_virt(0x10_0000)) else {
            return Err(fail("the direct map covers the kernel's frames"));
        };
        check!(f.contains(PageTableFlags::NO_EXECUTE) && f.contains(PageTableFlags::WRITABLE), "the direct map is RW+NX");
        check!(kmem::translate(0x10_0000).is_none(), "the boot identity map is gone");
    }
}

ktest! {
    fn every_kernel_stack_has_a_guard_page() {
        for chunk in percpu().chunks.iter() {
            check!(kmem::translate(chunk.bottom).is_some(), "the stack's lowest page is mapped");
            check!(kmem::translate(chunk.bottom - 4096).is_none(), "the page below the stack is unmapped");
            check!(probe::read_u64(chunk.bottom - 8).is_err(), "reading the guard page faults");
        }
    }
}

/// Waits, interrupts off, until the APIC timer has expired twice (its count wraps).
fn spin_two_timer_periods() {
    let mut wraps = 0;
    let mut last = crate::apic::lapic::timer_count();
    while wraps < 2 {
        let now = crate::apic::lapic::timer_count();
        if now > last {
            wraps += 1;
        }
        last = now;
    }
}

ktest! {
    fn timer_interrupts_arrive_only_in_the_idle_window() {
        let cpu = percpu();
        let (taken, ticks) = (cpu.irqs_taken.load(Ordering::Relaxed), cpu.ticks.load(Ordering::Relaxed));
        spin_two_timer_periods();
        check!(cpu.irqs_taken.load(Ordering::Relaxed) == taken, "no interrupt is taken while the kernel runs (IF=0)");
        check!(cpu.ticks.load(Ordering::Relaxed) == ticks, "no tick is counted while the kernel runs");
        // SAFETY: one interrupt window, exactly as the idle loop opens it.
        unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
        check!(cpu.irqs_taken.load(Ordering::Relaxed) > taken, "the latched timer interrupt arrives at the window");
        // At least the latched tick: under TCG a loaded host may let another period pass
        // before the `cli`, and its interrupt is taken in the same window.
        check!(cpu.ticks.load(Ordering::Relaxed) > ticks, "the handler counted the tick");
        for _ in 0..3 {
            crate::idle::idle_once();
        }
        check!(cpu.ticks.load(Ordering::Relaxed) >= ticks + 3, "ticks keep arriving through idle");
    }
}

ktest! {
    fn heap_and_frames_allocate_and_free() {
        let v: alloc::vec::Vec<u64> = (0..10_000).collect();
        check!(v.iter().sum::<u64>() == 49_995_000, "a heap vector holds its contents");
        let mut guard = kmem::KMEM.lock();
        let Some(km) = guard.as_mut() else { return Err(fail("kernel memory is set up")) };
        let free = km.frames.free_frames();
        let Some(pa) = km.frames.alloc() else { return Err(fail("a frame is free")) };
        check!(km.frames.free_frames() == free - 1, "allocation takes one frame");
        check!(km.frames.free(pa).is_ok(), "the frame is given back");
        check!(km.frames.free(pa).is_err(), "a double free is refused");
        check!(km.frames.free_frames() == free, "the count balances");
    }
}

ktest! {
    fn all_cpus_are_online_and_take_timer_interrupts() {
        let expected = crate::hardware::get().cpus;
        check!(crate::cpu::percpu::cpu_count() == expected, "every CPU in the MADT came up");
        crate::smp::wait_for_ticks_everywhere(3);
        for id in 0..expected {
            let Some(c) = crate::cpu::percpu::cpu(id) else { return Err(fail("per-CPU block exists")) };
            check!(c.ticks.load(Ordering::Relaxed) >= 3, "each CPU handles its own timer ticks in idle");
        }
    }
}

fn fail(message: &'static str) -> crate::ktest::Failure {
    crate::ktest::Failure {
        file: file!(),
        line: line!(),
        message,
    }
}

ktest! {
    fn memcpy_memmove_memset_handle_every_length_and_overlap() {
        let src: [u8; 64] = core::array::from_fn(|i| i as u8 + 1);
        for len in 0..40 {
            for off in 0..8 {
                let mut dst = [0u8; 64];
                // SAFETY: both ranges lie inside the 64-byte arrays; they do not overlap.
                unsafe { tessera_freestanding::memcpy(dst.as_mut_ptr().add(off), src.as_ptr().add(3), len) };
                check!(dst[off..off + len] == src[3..3 + len], "memcpy copies every byte");
                check!(dst[..off].iter().chain(&dst[off + len..]).all(|&b| b == 0), "memcpy writes nothing else");
                let mut buf = src;
                // SAFETY: overlapping ranges inside `buf`, which memmove allows.
                unsafe { tessera_freestanding::memmove(buf.as_mut_ptr().add(off), buf.as_ptr(), len) };
                check!(buf[off..off + len] == src[..len], "memmove forward over an overlap");
                let mut buf = src;
                // SAFETY: as above, the other direction.
                unsafe { tessera_freestanding::memmove(buf.as_mut_ptr(), buf.as_ptr().add(off), len) };
                check!(buf[..len] == src[off..off + len], "memmove backward over an overlap");
                let mut buf = [0u8; 64];
                // SAFETY: inside the array.
                unsafe { tessera_freestanding::memset(buf.as_mut_ptr().add(off), 0xa5, len) };
                check!(buf.iter().enumerate().all(|(i, &b)| b == if (off..off + len).contains(&i) { 0xa5 } else { 0 }), "memset fills exactly");
            }
        }
    }
}
