//! Per-CPU state, reached through the GS base (`gs:[0]` holds the block's own address).
//!
//! Invariants (DESIGN.md, "Interrupts"): an interrupt handler touches nothing of the kernel but
//! this CPU's notes in the core (pendingIRQs, needResched and the quantum, through
//! `Kernel::note_irq` and `Kernel::timer_tick`) and its counters here; every other field is
//! touched only by its own CPU with interrupts off, so none needs a lock. `trap_depth` counts nested ring-0 traps: the
//! kernel itself runs on stack chunk 0; a trap at depth d runs on chunk d, and while it runs,
//! IST1 points at chunk d+1, so a nested trap never lands on a stack in use (Tera's bounded
//! save-area pool, seed 000 section 5). Depth `TRAP_DEPTH_MAX + 1` runs on the last, spare
//! chunk only to report the overflow.

use crate::mem::stacks::{self, Stack};
use alloc::boxed::Box;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use x86_64::registers::model_specific::{GsBase, KernelGsBase};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// The core's limit: every per-CPU array on both sides has this many entries, so no CPU can
/// have an arch number the core cannot name.
pub const MAX_CPUS: usize = tessera_core::sync::MAX_CPUS;
/// The save-area pool of seed 000: at most this many nested traps in the kernel.
pub const TRAP_DEPTH_MAX: u32 = 4;
const KERNEL_STACK_PAGES: u64 = 16;
const TRAP_STACK_PAGES: u64 = 4;
/// IST slots (1-based, as the IDT names them).
pub const IST_TRAP: u16 = 1;
pub const IST_NMI: u16 = 2;
pub const IST_DOUBLE_FAULT: u16 = 3;
pub const IST_MACHINE_CHECK: u16 = 4;

/// `gs:` offsets the user-mode entry assembly uses (`user/entry.rs`).
pub const GS_USER_CTX: usize = 8;
pub const GS_KERNEL_RSP: usize = 16;
pub const GS_SCRATCH: usize = 24;
pub const GS_USER_FX: usize = 32;

/// The TSS with its I/O permission bitmap right behind it (a set bit denies the port).
/// The bitmap covers ports 0..0x400; every port above is denied by its absence.
#[repr(C)]
pub struct TssWithIomap {
    pub tss: TaskStateSegment,
    pub iomap: [u8; IOMAP_BYTES],
}

const IOMAP_BYTES: usize = 0x400 / 8 + 1;
/// The bitmap bytes covering COM1's eight ports (0x3f8..0x400) and isa-debug-exit (0xf4).
const SERIAL_IOMAP_BYTES: [usize; 2] = [
    tessera_abi::boot::serial_ports::COM1 as usize / 8,
    tessera_abi::boot::serial_ports::DEBUG_EXIT as usize / 8,
];

#[repr(C)]
pub struct CpuBlock {
    self_ptr: *const CpuBlock,
    /// Written and read only by the user-entry assembly: the running thread's save area, the
    /// kernel stack pointer to come back to, a scratch word for `syscall` entry, and the
    /// running thread's FXSAVE area.
    asm_slots: [UnsafeCell<u64>; 4],
    pub id: u32,
    pub apic_id: u32,
    trap_depth: AtomicU32,
    pub max_trap_depth_seen: AtomicU32,
    /// Interrupts taken, and of them timer ticks (counted by the handlers).
    pub irqs_taken: AtomicU64,
    pub ticks: AtomicU64,
    pub tss: UnsafeCell<TssWithIomap>,
    /// Chunk 0 is the kernel stack; chunks 1..=TRAP_DEPTH_MAX+1 take nested traps.
    pub chunks: [Stack; TRAP_DEPTH_MAX as usize + 2],
}

const _: () = assert!(
    core::mem::offset_of!(CpuBlock, asm_slots) == GS_USER_CTX
        && GS_KERNEL_RSP == GS_USER_CTX + 8
        && GS_SCRATCH == GS_USER_CTX + 16
        && GS_USER_FX == GS_USER_CTX + 24
);

// SAFETY: the only shared mutation is through atomics; the TSS cell is written by its own CPU.
unsafe impl Sync for CpuBlock {}

static CPUS: [AtomicPtr<CpuBlock>; MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];
static CPU_COUNT: AtomicUsize = AtomicUsize::new(0);
static READY: AtomicBool = AtomicBool::new(false);

impl CpuBlock {
    /// Allocates the block and its stacks; the TSS gets the IST stacks.
    pub fn new(id: u32, apic_id: u32) -> &'static CpuBlock {
        let chunks = core::array::from_fn(|i| {
            stacks::alloc(if i == 0 {
                KERNEL_STACK_PAGES
            } else {
                TRAP_STACK_PAGES
            })
        });
        let mut tss = TaskStateSegment::new();
        tss.iomap_base = core::mem::size_of::<TaskStateSegment>() as u16;
        let chunks_ref: &[Stack; TRAP_DEPTH_MAX as usize + 2] = &chunks;
        tss.interrupt_stack_table[(IST_TRAP - 1) as usize] = VirtAddr::new(chunks_ref[1].top);
        tss.interrupt_stack_table[(IST_NMI - 1) as usize] =
            VirtAddr::new(stacks::alloc(TRAP_STACK_PAGES).top);
        tss.interrupt_stack_table[(IST_DOUBLE_FAULT - 1) as usize] =
            VirtAddr::new(stacks::alloc(TRAP_STACK_PAGES).top);
        tss.interrupt_stack_table[(IST_MACHINE_CHECK - 1) as usize] =
            VirtAddr::new(stacks::alloc(TRAP_STACK_PAGES).top);
        let cpu = Box::leak(Box::new(CpuBlock {
            self_ptr: core::ptr::null(),
            asm_slots: [const { UnsafeCell::new(0) }; 4],
            id,
            apic_id,
            trap_depth: AtomicU32::new(0),
            max_trap_depth_seen: AtomicU32::new(0),
            irqs_taken: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            tss: UnsafeCell::new(TssWithIomap {
                tss,
                iomap: [0xff; IOMAP_BYTES],
            }),
            chunks,
        }));
        cpu.self_ptr = cpu;
        CPUS[id as usize].store(cpu, Ordering::Release);
        CPU_COUNT.fetch_max(id as usize + 1, Ordering::AcqRel);
        cpu
    }

    /// Makes this block the running CPU's: GS base points at it.
    pub fn install(&'static self) {
        GsBase::write(VirtAddr::from_ptr(self));
        KernelGsBase::write(VirtAddr::zero());
        READY.store(true, Ordering::Release);
    }

    fn set_trap_stack(&self, chunk: usize) {
        // SAFETY: only this CPU writes its TSS, with interrupts off; the CPU reads IST1 from
        // memory at the next trap, which is what we want.
        unsafe {
            (*self.tss.get()).tss.interrupt_stack_table[(IST_TRAP - 1) as usize] =
                VirtAddr::new(self.chunks[chunk].top)
        };
    }

    /// A trap arrived in ring 0: take the next save area. `Err(depth)` past the pool's end.
    pub fn enter_nested_trap(&self) -> Result<u32, u32> {
        let depth = self.trap_depth.load(Ordering::Relaxed) + 1;
        self.trap_depth.store(depth, Ordering::Relaxed);
        self.max_trap_depth_seen.fetch_max(depth, Ordering::Relaxed);
        if depth > TRAP_DEPTH_MAX {
            return Err(depth);
        }
        self.set_trap_stack(depth as usize + 1);
        Ok(depth)
    }

    pub fn leave_nested_trap(&self) {
        let depth = self.trap_depth.load(Ordering::Relaxed) - 1;
        self.trap_depth.store(depth, Ordering::Relaxed);
        self.set_trap_stack(depth as usize + 1);
    }

    /// Opens or closes the serial driver's ports (`abi::boot::serial_ports`) to ring 3 on
    /// this CPU. The debug-exit byte also opens 0xf0..0xf8, legacy x87 ports QEMU ignores.
    pub fn set_serial_ports_open(&self, open: bool) {
        for byte in SERIAL_IOMAP_BYTES {
            // SAFETY: only this CPU writes its bitmap, with interrupts off; the CPU consults
            // it on each `in`/`out` from ring 3, which can only come after this returns.
            unsafe { (*self.tss.get()).iomap[byte] = if open { 0 } else { 0xff } };
        }
    }

    pub fn trap_depth(&self) -> u32 {
        self.trap_depth.load(Ordering::Relaxed)
    }
}

/// This CPU's block. Valid once `install` ran on this CPU.
pub fn percpu() -> &'static CpuBlock {
    let p: *const CpuBlock;
    // SAFETY: after `install`, gs:[0] holds the address of this CPU's leaked, 'static block.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) p, options(nostack, readonly, preserves_flags))
    };
    // SAFETY: as above; the block lives forever and is only shared through atomics.
    unsafe { &*p }
}

pub fn cpu(id: usize) -> Option<&'static CpuBlock> {
    // SAFETY: a non-null entry points at a leaked, 'static block.
    CPUS.get(id)
        .and_then(|p| unsafe { p.load(Ordering::Acquire).as_ref() })
}

pub fn cpu_count() -> usize {
    CPU_COUNT.load(Ordering::Acquire)
}

/// This CPU's number, safe to call anywhere (early boot, panics with a user GS loaded).
pub fn current_id_or_boot() -> u32 {
    if !READY.load(Ordering::Acquire) {
        return 0;
    }
    for base in [GsBase::read().as_u64(), KernelGsBase::read().as_u64()] {
        if base >= crate::mem::layout::USER_END {
            // SAFETY: kernel GS bases are only ever set to a leaked CpuBlock block.
            return unsafe { (*(base as *const CpuBlock)).id };
        }
    }
    0
}
