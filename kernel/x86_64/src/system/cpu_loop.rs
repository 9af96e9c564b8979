//! Each CPU's life once processes exist: ask the core what to run, run it in ring 3 until it
//! leaves user mode, hand the reason back to the core — the rescheduler of seed 001, with the
//! kernel's whole state between two user entries being this loop's locals.
//!
//! Faults are the arch's to translate: a page fault is first offered to the core
//! (`resolve_fault`), which either installs the entry (through `Platform::mapping_derived`,
//! while it still holds the locks that make it valid) and the thread resumes, or refuses; a
//! refused or any other exception goes to the core's `fault` with the registers at the fault,
//! which hands it to the process's keeper or halts the process (reported on the console). A
//! process that cannot run at all (no address space, no memory for its tables) is halted with
//! a report.

use crate::apic::lapic;
use crate::cpu::percpu::percpu;
use crate::idle;
use crate::system::{derived_tables, fx_states, io_grants, kernel, tlb};
use crate::trap::vectors::exception_name;
use crate::user::context::UserContext;
use crate::user::entry::{run_user, EXIT_SYSCALL};
use core::sync::atomic::Ordering;
use tessera_abi::boot::io_ports;
use tessera_abi::fault::Fault;
#[cfg(feature = "trace")]
use tessera_abi::trace::Kind;
use tessera_abi::{order, CapType, Rights};
use tessera_core::cap::{Cap, ObjId};
use tessera_core::cpu::Cpu;
use tessera_core::dispatch::Exit;
use tessera_core::keeper::Faulted;

/// Runs processes on this CPU forever.
pub fn run(cpu: &mut Cpu) -> ! {
    let k = kernel();
    let mut regs = UserContext::default();
    let mut loaded: (u64, u64) = (0, u64::MAX);
    // The PML4s of the last two address spaces entered (a call and its reply alternate
    // between two): a space's PML4 never changes, and an ObjId names one space for ever. A
    // destroyed space's entry may linger but is never asked for again, except by an exit the
    // core decided before the destruction; its PML4 is then still in limbo (this CPU has not
    // been quiescent since), and stays there while this CPU has it loaded (`tlb::loaded`).
    // A space without its own PML4 yet runs on the empty one, which is not cached.
    let mut roots: [(ObjId, u64); 2] = [(ObjId::NONE, 0); 2];
    let mut ports_open = false;
    let me = percpu().id;
    #[cfg(feature = "trace")]
    let mut traced = crate::trace::CpuTrace::default();
    tlb::quiescent(me);
    let mut exit = k.exit(cpu, &mut regs);
    loop {
        // Removals this exit leaves unpaid are paid before this CPU runs user code or idles.
        tlb::settle();
        exit = match exit {
            Exit::Idle => {
                #[cfg(feature = "trace")]
                traced.idle(me);
                // The nearest alarm of this CPU may come before its next tick (`lapic::wake_at`).
                let wake = k.next_alarm(cpu.id).map_or(lapic::Wake::Tick, lapic::wake_at);
                if wake != lapic::Wake::Now {
                    idle::idle_once();
                }
                if wake == lapic::Wake::Programmed {
                    lapic::start_timer();
                }
                tlb::quiescent(me);
                tlb::reclaim();
                k.exit(cpu, &mut regs)
            }
            Exit::User { process, space: None } => fault(cpu, &mut regs, process, "it has no address space"),
            Exit::User { process, space: Some(space) } => 'user: {
                let root = if roots[0].0 == space {
                    roots[0].1
                } else if roots[1].0 == space {
                    roots.swap(0, 1);
                    roots[0].1
                } else if let Some(r) = derived_tables::root_of(space) {
                    roots = [(space, r), roots[0]];
                    r
                } else {
                    let Some(r) = derived_tables::empty_root() else {
                        break 'user fault(cpu, &mut regs, process, "no memory for its page tables");
                    };
                    r
                };
                enter_space(me, root, &mut loaded);
                let open = io_grants::of(process) == Some(io_ports::SERIAL);
                if open != ports_open {
                    percpu().set_serial_ports_open(open);
                    ports_open = open;
                }
                #[cfg(feature = "trace")]
                traced.entering(me, process.index, regs.rax);
                // SAFETY: the process's tables are loaded and no lock is held.
                let vector = unsafe { run_user(&mut regs, fx_states::of(process)) };
                #[cfg(feature = "trace")]
                traced.left(vector);
                tlb::quiescent(me);
                tlb::reclaim();
                match vector {
                    EXIT_SYSCALL => {
                        #[cfg(feature = "trace")]
                        crate::trace::event(me, Kind::Syscall, process.index, regs.rsi, regs.rdi);
                        k.syscall(cpu, &mut regs)
                    }
                    v if v >= 32 => interrupted(cpu, &mut regs, space),
                    14 => page_fault(cpu, &mut regs, process, space),
                    _ => exception(cpu, &mut regs, process),
                }
            }
        }
    }
}

/// The process was interrupted in ring 3 while it ran in `space`; the handler noted the
/// interrupt in the core already. Out of line: the loop's syscall arm is the hot one.
#[inline(never)]
fn interrupted(cpu: &mut Cpu, regs: &mut UserContext, space: ObjId) -> Exit {
    kernel().interrupted(cpu, regs, Some(space))
}

/// Loads the address space's tables unless they are loaded and no mapping was removed since.
fn enter_space(me: u32, root: u64, loaded: &mut (u64, u64)) {
    let epoch = tlb::EPOCH.load(Ordering::Acquire);
    if *loaded != (root, epoch) {
        // SAFETY: `root` is a PML4 whose upper half is the kernel's.
        unsafe {
            x86_64::registers::control::Cr3::write(
                x86_64::structures::paging::PhysFrame::containing_address(x86_64::PhysAddr::new(root)),
                x86_64::registers::control::Cr3Flags::empty(),
            )
        };
        tlb::loaded(me, root);
        *loaded = (root, epoch);
    }
}

fn page_fault(cpu: &mut Cpu, regs: &mut UserContext, process: ObjId, space: ObjId) -> Exit {
    let (addr, err) = (regs.exit_cr2, regs.exit_error);
    let vpn = addr >> 12;
    let needed = if err & 16 != 0 { Rights::EXEC } else if err & 2 != 0 { Rights::WRITE } else { Rights::READ };
    // A present entry carries its mapping's rights, so a protection fault is not resolvable;
    // otherwise the core installs the entry itself, under the locks that make it valid.
    let resolved = err & 1 == 0 && kernel().resolve_fault(cpu, vpn).is_ok_and(|t| t.rights.contains(needed));
    if resolved {
        return Exit::User { process, space: Some(space) };
    }
    // Reported only if it halts the process: a keeper's faulting client must not be able to
    // flood the kernel console with one line per fault.
    exception(cpu, regs, process)
}

/// The current process took an exception in ring 3, its registers in `regs`: the core keeps
/// them and sends the fault to its keeper, or halts it (reported here).
fn exception(cpu: &mut Cpu, regs: &mut UserContext, process: ObjId) -> Exit {
    // CR2 means something only for a page fault (`run_user` refuses a bad RIP without entering).
    let addr = if regs.exit_vector == tessera_abi::fault::kind::PAGE_FAULT { regs.exit_cr2 } else { 0 };
    let f = Fault { kind: regs.exit_vector, error: regs.exit_error, addr, rip: regs.rip };
    let k = kernel();
    let faulted = k.fault(cpu, regs, f);
    #[cfg(feature = "trace")]
    crate::trace::event(cpu.id.index() as u32, Kind::Fault, process.index, f.kind, u64::from(faulted == Faulted::ToKeeper));
    if faulted == Faulted::Halted {
        let access = match f.kind {
            tessera_abi::fault::kind::PAGE_FAULT if f.error & 16 != 0 => " (execute)",
            tessera_abi::fault::kind::PAGE_FAULT if f.error & 2 != 0 => " (write)",
            tessera_abi::fault::kind::PAGE_FAULT => " (read)",
            _ => "",
        };
        crate::kprintln!(
            "process {} halted: {}{access} at RIP {:#x} (error code {:#x}, CR2 {:#x})",
            process.index,
            exception_name(f.kind as u8),
            f.rip,
            f.error,
            f.addr
        );
    }
    k.exit(cpu, regs)
}

/// Halts the current process, which cannot run at all, and reports it.
fn fault(cpu: &mut Cpu, regs: &mut UserContext, process: ObjId, why: &str) -> Exit {
    crate::kprintln!(
        "process {} halted: {why} at RIP {:#x} (error code {:#x}, CR2 {:#x})",
        process.index,
        regs.rip,
        regs.exit_error,
        regs.exit_cr2
    );
    let k = kernel();
    if let Err(e) = k.kernel_invoke(cpu, Cap::new(CapType::Process, process), order::process::HALT, &[], &[]) {
        log::warn!("halting process {}: {e:?}", process.index);
    }
    k.exit(cpu, regs)
}
