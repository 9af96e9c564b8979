//! Starting the other CPUs (application processors): INIT, then STARTUP into a real-mode
//! trampoline copied to physical 0x8000, which climbs to long mode on the kernel's page
//! tables and jumps to `ap_main` on the stack the boot CPU allocated for it.
//!
//! Invariant: APs are started one at a time (the trampoline's data slots are shared), and the
//! trampoline page is identity-mapped only while an AP is starting.

use crate::apic::{lapic, pit};
use crate::cpu::percpu::{self, CpuBlock};
use crate::mem::kmem::{Frames, KMEM};
use crate::mem::layout::phys_to_virt;
use crate::mem::page_table::PageTableFlags;
use core::sync::atomic::{AtomicBool, Ordering};

const TRAMPOLINE: u64 = 0x8000;

core::arch::global_asm!(
    r#"
    .section .rodata.ap_trampoline, "a"
    .balign 16
    .global ap_trampoline
ap_trampoline:
    .code16
    cli
    cld
    xorw %ax, %ax
    movw %ax, %ds
    lgdtl 0x8000 + (tr_gdtr - ap_trampoline)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x18, $(0x8000 + (tr_pm32 - ap_trampoline))
    .code32
tr_pm32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl %cr4, %eax
    orl $((1 << 5) | (1 << 9) | (1 << 10)), %eax
    movl %eax, %cr4
    movl 0x8000 + (tr_cr3 - ap_trampoline), %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax
    wrmsr
    movl %cr0, %eax
    andl $~(1 << 2), %eax
    orl $((1 << 31) | (1 << 16) | (1 << 1)), %eax
    movl %eax, %cr0
    ljmpl $0x08, $(0x8000 + (tr_lm64 - ap_trampoline))
    .code64
tr_lm64:
    movq 0x8000 + (tr_stack - ap_trampoline), %rsp
    movq 0x8000 + (tr_cpu - ap_trampoline), %rdi
    xorl %ebp, %ebp
    movq 0x8000 + (tr_entry - ap_trampoline), %rax
    pushq $0                              /* no return address: as after a call, RSP = 8 mod 16 */
    jmpq *%rax
    .balign 8
tr_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00cf9a000000ffff
tr_gdtr:
    .word tr_gdtr - tr_gdt - 1
    .long 0x8000 + (tr_gdt - ap_trampoline)
    .balign 8
    .global ap_trampoline_data
ap_trampoline_data:
tr_cr3:   .quad 0
tr_stack: .quad 0
tr_cpu:   .quad 0
tr_entry: .quad 0
    .global ap_trampoline_end
ap_trampoline_end:
    .text
"#,
    options(att_syntax)
);

extern "C" {
    static ap_trampoline: u8;
    static ap_trampoline_data: u8;
    static ap_trampoline_end: u8;
}

static AP_ONLINE: AtomicBool = AtomicBool::new(false);

fn identity_map_trampoline(map: bool) {
    let mut guard = KMEM.lock();
    let km = guard.as_mut().expect("kernel memory is set up");
    let mut f = Frames(&mut km.frames);
    if map {
        km.tables
            .map_4k(&mut f, TRAMPOLINE, TRAMPOLINE, PageTableFlags::empty())
            .expect("trampoline identity map");
    } else {
        km.tables.unmap_4k(&mut f, TRAMPOLINE);
    }
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(TRAMPOLINE));
}

/// Starts every CPU the MADT lists besides this one; returns how many came up.
pub fn start_aps() -> usize {
    let hardware = crate::hardware::get();
    let me = lapic::id();
    // SAFETY: linker symbols bounding the trampoline's bytes in rodata.
    let (start, data, end) = unsafe {
        (
            &ap_trampoline as *const u8,
            &ap_trampoline_data as *const u8,
            &ap_trampoline_end as *const u8,
        )
    };
    let len = end as usize - start as usize;
    let dst = phys_to_virt(TRAMPOLINE) as *mut u8;
    // SAFETY: the first MiB is reserved from the frame allocator, so 0x8000 belongs to us;
    // the source is the trampoline's bytes.
    unsafe { core::ptr::copy_nonoverlapping(start, dst, len) };
    let slots = (phys_to_virt(TRAMPOLINE) + (data as u64 - start as u64)) as *mut u64;
    identity_map_trampoline(true);
    let cr3 = x86_64::registers::control::Cr3::read()
        .0
        .start_address()
        .as_u64();
    let mut started = 0;
    let mut next_id = 1;
    for &apic_id in &hardware.apic_ids[..hardware.cpus] {
        if apic_id as u32 == me {
            continue;
        }
        let cpu = CpuBlock::new(next_id, apic_id as u32);
        AP_ONLINE.store(false, Ordering::Release);
        // SAFETY: the four slots follow `ap_trampoline_data` in the copy at 0x8000.
        unsafe {
            slots.write_volatile(cr3);
            slots.add(1).write_volatile(cpu.chunks[0].top);
            slots.add(2).write_volatile(next_id as u64);
            slots.add(3).write_volatile(ap_main as *const () as u64);
        }
        lapic::send_init(apic_id as u32);
        pit::measure(10, || (), || ());
        for _ in 0..2 {
            if AP_ONLINE.load(Ordering::Acquire) {
                break;
            }
            lapic::send_startup(apic_id as u32, (TRAMPOLINE >> 12) as u8);
            for _ in 0..100 {
                if AP_ONLINE.load(Ordering::Acquire) {
                    break;
                }
                pit::measure(1, || (), || ());
            }
        }
        if AP_ONLINE.load(Ordering::Acquire) {
            started += 1;
            next_id += 1;
        } else {
            log::warn!("CPU with APIC id {apic_id} did not start");
        }
    }
    identity_map_trampoline(false);
    started
}

extern "C" fn ap_main(id: u64) -> ! {
    crate::cpu::setup::enable();
    let cpu = percpu::cpu(id as usize).expect("the boot CPU made this block");
    cpu.install();
    crate::cpu::gdt::load(cpu);
    crate::trap::idt::load();
    crate::user::init_cpu();
    lapic::init();
    lapic::start_timer();
    log::info!("CPU {id} online (APIC id {})", lapic::id());
    AP_ONLINE.store(true, Ordering::Release);
    while !crate::system::running() {
        crate::idle::idle_once();
    }
    crate::system::join(id as u32)
}

/// Idles this CPU until every CPU has handled at least `n` timer ticks.
pub fn wait_for_ticks_everywhere(n: u64) {
    while (0..percpu::cpu_count())
        .any(|i| percpu::cpu(i).is_some_and(|c| c.ticks.load(Ordering::Relaxed) < n))
    {
        crate::idle::idle_once();
    }
}
