//! The boot sequence, from the PVH stub's call to the idle loop.

use crate::boot::start_info::{BootInfo, PhysReader};
use crate::cmdline::{self, Mode};
use crate::cpu::percpu::CpuBlock;
use crate::{apic, cpu, hardware, ktest, mem, trap};
use spin::Once;
use tessera_abi::boot::{FuzzArg, InitArg};

static BOOT_INFO: Once<BootInfo> = Once::new();
/// The TSC when `kernel_main` started: firmware and boot loader ran before it.
static ENTRY_TSC: Once<u64> = Once::new();

/// The first GiB, identity-mapped by the boot page tables.
struct EarlyPhys;

impl PhysReader for EarlyPhys {
    fn read(&self, pa: u64, buf: &mut [u8]) -> Option<()> {
        if pa.checked_add(buf.len() as u64)? > 1 << 30 {
            return None;
        }
        // SAFETY: the range lies in the identity-mapped first GiB, checked above.
        unsafe { core::ptr::copy_nonoverlapping(pa as *const u8, buf.as_mut_ptr(), buf.len()) };
        Some(())
    }
}

/// The first boot module, if the boot loader passed one: the archive of user programs.
fn boot_archive() -> Option<&'static [u8]> {
    let m = BOOT_INFO.get()?.modules().first().copied()?;
    // SAFETY: the module's frames are reserved from the frame allocator and lie in RAM, so in
    // the direct map; nothing writes them.
    Some(unsafe {
        core::slice::from_raw_parts(
            crate::mem::layout::phys_to_virt(m.start) as *const u8,
            m.len as usize,
        )
    })
}

/// The boot CPU's stack until its per-CPU stacks exist.
#[repr(C, align(16))]
struct BootStack([u8; 32 * 1024]);
static mut BOOT_STACK: BootStack = BootStack([0; 32 * 1024]);
#[no_mangle]
static BOOT_STACK_TOP: &u8 = {
    // SAFETY: only the address one past the array's end is formed.
    unsafe { &*(core::ptr::addr_of!(BOOT_STACK) as *const u8).add(32 * 1024 - 16) }
};

#[no_mangle]
extern "C" fn kernel_main(start_info: u32) -> ! {
    ENTRY_TSC.call_once(crate::tsc);
    crate::kprintln!(
        "\nTessera {} booting (x86_64, PVH)",
        env!("CARGO_PKG_VERSION")
    );
    let info = match BootInfo::parse(&EarlyPhys, start_info as u64) {
        Ok(i) => BOOT_INFO.call_once(|| i),
        Err(e) => panic!("bad PVH start info at {start_info:#x}: {e:?}"),
    };
    cmdline::capture(info.cmdline_paddr);
    crate::console::log::init(cmdline::get());
    for r in info.memory() {
        log::debug!(
            "memory {:#012x}..{:#012x} {:?}",
            r.start,
            r.start + r.len,
            r.kind
        );
    }
    mem::kernel_map::init(info);
    mem::heap::init();
    crate::system::tlb::init(info.top_of_ram().min(mem::kmem::MAX_PHYS));
    let features = cpu::setup::enable();
    let bsp = CpuBlock::new(
        0,
        raw_cpuid::CpuId::new()
            .get_feature_info()
            .map_or(0, |f| f.initial_local_apic_id() as u32),
    );
    bsp.install();
    cpu::gdt::load(bsp);
    trap::idt::load();
    crate::user::init_cpu();
    log::info!(
        "memory: {} MiB usable, {} frames free; SMEP {} SMAP {}",
        info.top_of_ram() >> 20,
        mem::kmem::KMEM
            .lock()
            .as_ref()
            .map_or(0, |k| k.frames.free_frames()),
        features.smep,
        features.smap
    );
    // SAFETY: the new stack is this CPU's chunk 0, mapped and unused; nothing on the boot
    // stack is needed after the switch (everything lives in statics).
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}", "xor ebp, ebp", "call {next}",
            top = in(reg) bsp.chunks[0].top, next = sym kernel_main_on_cpu_stack, options(noreturn)
        )
    }
}

extern "C" fn kernel_main_on_cpu_stack() -> ! {
    let mode = cmdline::parse(cmdline::get());
    apic::pic::disable();
    let p = hardware::set(apic::acpi_tables::discover(
        BOOT_INFO.get().map_or(0, |i| i.rsdp_paddr),
    ));
    apic::lapic::init();
    apic::ioapic::init(p.ioapic_address);
    apic::lapic::calibrate();
    apic::lapic::start_timer();
    let (gsi, low, level) = hardware::serial_line();
    if apic::ioapic::route(gsi, apic::lapic::id(), low, level) {
        apic::ioapic::set_masked(gsi, false);
    }
    let started = crate::smp::start_aps();
    log::info!("{} of {} CPUs online", started + 1, p.cpus);
    crate::trace::start_if_asked();
    if mode == Mode::Bench {
        crate::trace::bench();
    }
    let (entry, idle) = (ENTRY_TSC.get().copied().unwrap_or(0), crate::tsc());
    log::info!(
        "reached idle: TSC {idle} since reset, {} in the kernel ({})",
        idle - entry,
        if cmdline::icount() {
            "guest instructions"
        } else {
            "TSC ticks"
        }
    );
    match mode {
        Mode::TestAll => ktest::run_all(),
        Mode::TestOne(name) => ktest::run_named(name),
        Mode::TestUser | Mode::TestFuzz(_) | Mode::Bench | Mode::BenchScaling
            if boot_archive().is_none() =>
        {
            crate::kprintln!("no boot archive: there are no user programs to test or measure");
            crate::qemu_exit::exit(crate::qemu_exit::ExitCode::Failure)
        }
        Mode::TestUser | Mode::TestFuzz(_) | Mode::Bench | Mode::BenchScaling | Mode::Run => {
            match boot_archive() {
                Some(archive) => {
                    let fuzz = match mode {
                        Mode::TestFuzz(f) => Some(FuzzArg {
                            cpus: (started + 1) as u32,
                            ..f
                        }),
                        _ => None,
                    };
                    let arg = InitArg {
                        test: mode == Mode::TestUser,
                        bench: matches!(mode, Mode::Bench | Mode::BenchScaling),
                        fuzz: fuzz.is_some(),
                        scaling: mode == Mode::BenchScaling,
                        profile: mode == Mode::Bench && cmdline::profile(),
                        cpus: (started + 1) as u8,
                        log_level: tessera_console_log::level_raw(log::max_level()),
                        tsc_hz: apic::lapic::tsc_hz(),
                    };
                    crate::system::start(archive, started + 1, arg, fuzz)
                }
                None => {
                    crate::kprint!("no boot archive (no user programs): kernel monitor ready (type help)\ntessera> ");
                    crate::idle::idle()
                }
            }
        }
    }
}
