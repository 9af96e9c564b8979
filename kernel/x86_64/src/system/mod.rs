//! The kernel core running on x86_64: the one `Kernel`, its platform (`machine.rs`), the
//! derived page tables, the per-CPU loop, and starting the programs of the boot archive.

mod cpu_loop;
pub mod derived_tables;
mod fx_states;
mod io_grants;
mod loader;
mod machine;
mod save_area;
pub(crate) mod tlb;
mod user_return;

use spin::Once;
use tessera_abi::boot::{init, io_ports, FuzzArg, InitArg, ARCHIVE_MAGIC, ARCHIVE_VA};
use tessera_abi::cap::CAP_PAGE_SLOTS;
use tessera_abi::order;
use tessera_core::cap::Cap;
use tessera_core::cpu::Cpu;
use tessera_core::kernel::Config;
use tessera_core::sync::CpuId;

pub type Kernel = tessera_core::kernel::Kernel<machine::X86Machine>;

static KERNEL: Once<Kernel> = Once::new();

/// Quota of the boot bank, in objects (each page is one): 256 MiB of pages and their kin,
/// enough for a task of 100,000 chores beside the rest of the system (the guest has 512 MiB:
/// `xtask/src/qemu.rs`).
const BOOT_QUOTA: u64 = 64 * 1024;
const PROCESSES: usize = 64;
/// Capability pages, system-wide: enough to file every page the boot bank can make two levels
/// deep (a filing page per 64 pages, a directory per 64 filing pages, as `user/tasks` does),
/// with as many again to spare. A task of N pages needs N/64 of them, so a table of 32 stopped
/// every task near 2,000 pages (seen as MAP failing there) with most of its bank unspent. A
/// slot holds its 64 capabilities inline, about 1.6 KiB of kernel heap each: 3.2 MiB here.
const CAP_PAGES: usize = 2 * (BOOT_QUOTA as usize).div_ceil(CAP_PAGE_SLOTS);
const ALARMS: usize = 64;

/// The kernel, once processes exist.
pub fn kernel() -> &'static Kernel {
    KERNEL
        .get()
        .expect("the system is started before any process runs")
}

pub fn running() -> bool {
    KERNEL.get().is_some()
}

/// The core's name of arch CPU `id`. Every online CPU has one: the MADT reader leaves CPUs
/// past `MAX_CPUS` offline, and both sides share that limit.
pub fn cpu_id(id: u32) -> CpuId {
    CpuId::new(id as usize).expect("an online CPU's number is below MAX_CPUS")
}

/// Makes the kernel, loads init, maps the boot archive into it for it to load every other
/// program, gives it its capabilities (`abi::boot::init`), and runs processes on this CPU
/// forever.
pub fn start(archive: &[u8], cpus: usize, arg: InitArg, fuzz: Option<FuzzArg>) -> ! {
    let k = KERNEL.call_once(|| {
        tessera_core::kernel::Kernel::new(
            machine::X86Machine,
            Config {
                cpus,
                processes: PROCESSES,
                banks: 32,
                pages: BOOT_QUOTA as usize,
                spaces: 64,
                cap_pages: CAP_PAGES,
                irq_lines: crate::trap::vectors::IRQ_LINES as usize,
                post_activities: 32,
                page_tables: 1024,
                alarms: ALARMS,
            },
        )
    });
    fx_states::init(PROCESSES);
    io_grants::init(PROCESSES);
    let mut cpu = Cpu::new(cpu_id(crate::cpu::percpu::percpu().id));
    let bank = k
        .boot_bank(BOOT_QUOTA)
        .expect("an empty bank table has room for the boot bank");
    let Some(init_image) = tessera_bootfs::archive::find(archive, "init") else {
        panic!("the boot archive has no program named init");
    };
    let (initp, init_space) = loader::load(k, &mut cpu, bank, init_image, arg.pack())
        .unwrap_or_else(|e| panic!("loading init: {e}"));
    let fuzz = fuzz.map_or(0, FuzzArg::pack);
    let header = [ARCHIVE_MAGIC, archive.len() as u64, fuzz]
        .map(u64::to_le_bytes)
        .concat();
    let vpn = ARCHIVE_VA / 4096;
    if let Err(e) = loader::map_bytes(k, &mut cpu, bank, init_space, vpn, &header)
        .and_then(|()| loader::map_bytes(k, &mut cpu, bank, init_space, vpn + 1, archive))
    {
        panic!("mapping the boot archive into init: {e:?}");
    }
    let give = |cpu: &mut Cpu, slot: u8, cap: Cap| {
        if let Err(e) = k.kernel_invoke(cpu, initp, order::process::SET_CAP, &[slot as u64], &[cap])
        {
            panic!("giving init slot {slot}: {e:?}");
        }
    };
    give(&mut cpu, init::BANK, bank);
    give(&mut cpu, init::SELF, initp);
    give(&mut cpu, init::SPACE, init_space);
    give(
        &mut cpu,
        init::SERIAL_PORTS,
        k.io_ports_cap(io_ports::SERIAL),
    );
    if let Some(irq) = k.irq_cap(crate::hardware::serial_gsi() as u32) {
        give(&mut cpu, init::SERIAL_IRQ, irq);
    }
    if let Err(e) = k.kernel_invoke(&mut cpu, initp, order::process::RESUME, &[], &[]) {
        panic!("starting init: {e:?}");
    }
    log::info!(
        "init is process {}; it loads the other programs of the boot archive",
        initp.obj.index
    );
    cpu_loop::run(&mut cpu)
}

/// Another CPU joins: it runs processes too.
pub fn join(id: u32) -> ! {
    let mut cpu = Cpu::new(cpu_id(id));
    cpu_loop::run(&mut cpu)
}
