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
use crate::system::user_return::Returning;
use crate::system::{kernel, tlb};
use crate::trap::vectors::exception_name;
use crate::user::context::UserContext;
use crate::user::entry::EXIT_DECIDED;
use tessera_abi::fault::Fault;
#[cfg(feature = "trace")]
use tessera_abi::trace::Kind;
use tessera_abi::{order, CapType, Rights};
use tessera_core::cap::{Cap, ObjId};
use tessera_core::cpu::Cpu;
use tessera_core::keeper::Faulted;
use tessera_core::scheduler::Exit;

/// Runs processes on this CPU forever.
pub fn run(cpu: &mut Cpu) -> ! {
    let k = kernel();
    let mut returning = Returning::new();
    let me = percpu().id;
    tlb::quiescent(me);
    let mut exit = k.exit(cpu);
    loop {
        // Removals this exit leaves unpaid are paid before this CPU runs user code or idles.
        tlb::settle();
        exit = match exit {
            Exit::Idle => {
                #[cfg(feature = "trace")]
                returning.traced.idle(me);
                // The nearest alarm of this CPU may come before its next tick (`lapic::wake_at`).
                let wake = k
                    .next_alarm(cpu.id)
                    .map_or(lapic::Wake::Tick, lapic::wake_at);
                if wake != lapic::Wake::Now {
                    idle::idle_once();
                }
                if wake == lapic::Wake::Programmed {
                    lapic::start_timer();
                }
                tlb::quiescent(me);
                tlb::reclaim();
                k.exit(cpu)
            }
            Exit::User {
                process,
                space: None,
            } => fault(cpu, process, "it has no address space"),
            Exit::User {
                process,
                space: Some(space),
            } => {
                let Some(fx) = returning.prepare(me, process, space) else {
                    exit = fault(cpu, process, "no memory for its page tables");
                    continue;
                };
                #[cfg(feature = "trace")]
                {
                    let rax = returning.regs().rax;
                    returning.traced.entering(me, process.index, rax);
                }
                let vector = returning.run_user(cpu, fx);
                // Direct returns from system calls may have switched processes since the entry.
                let (process, space) = returning.entered();
                if vector != EXIT_DECIDED {
                    #[cfg(feature = "trace")]
                    returning.traced.left(vector);
                    tlb::quiescent(me);
                    tlb::reclaim();
                }
                match vector {
                    EXIT_DECIDED => match returning.take_decided() {
                        Some(decided) => decided,
                        None => unreachable!("a system call's exit was not decided (kernel bug)"),
                    },
                    v if v >= 32 => interrupted(cpu, space),
                    14 => page_fault(cpu, returning.regs(), process, space),
                    _ => exception(cpu, returning.regs(), process),
                }
            }
        }
    }
}

/// The process was interrupted in ring 3 while it ran in `space`; the handler noted the
/// interrupt in the core already. Out of line: the loop's syscall arm is the hot one.
#[inline(never)]
fn interrupted(cpu: &mut Cpu, space: ObjId) -> Exit {
    kernel().interrupted(cpu, Some(space))
}

/// `regs`: the process's save area, this CPU's while it is current here.
fn page_fault(cpu: &mut Cpu, regs: &mut UserContext, process: ObjId, space: ObjId) -> Exit {
    let (addr, err) = (regs.exit_cr2, regs.exit_error);
    let vpn = addr >> 12;
    let needed = if err & 16 != 0 {
        Rights::EXEC
    } else if err & 2 != 0 {
        Rights::WRITE
    } else {
        Rights::READ
    };
    // A present entry carries its mapping's rights, so a protection fault is not resolvable;
    // otherwise the core installs the entry itself, under the locks that make it valid.
    let resolved = err & 1 == 0
        && kernel()
            .resolve_fault(cpu, vpn)
            .is_ok_and(|t| t.rights.contains(needed));
    if resolved {
        return Exit::User {
            process,
            space: Some(space),
        };
    }
    // Reported only if it halts the process: a keeper's faulting client must not be able to
    // flood the kernel console with one line per fault.
    exception(cpu, regs, process)
}

/// The current process took an exception in ring 3, its registers in `regs` (its save area):
/// the core sends the fault to its keeper, or halts it (reported here).
fn exception(cpu: &mut Cpu, regs: &mut UserContext, process: ObjId) -> Exit {
    // CR2 means something only for a page fault (`run_user` refuses a bad RIP without entering).
    let addr = if regs.exit_vector == tessera_abi::fault::kind::PAGE_FAULT {
        regs.exit_cr2
    } else {
        0
    };
    let f = Fault {
        kind: regs.exit_vector,
        error: regs.exit_error,
        addr,
        rip: regs.rip,
    };
    let k = kernel();
    let faulted = k.fault(cpu, f);
    #[cfg(feature = "trace")]
    crate::trace::event(
        cpu.id.index() as u32,
        Kind::Fault,
        process.index,
        f.kind,
        u64::from(faulted == Faulted::ToKeeper),
    );
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
    k.exit(cpu)
}

/// Halts the current process, which cannot run at all, and reports it.
fn fault(cpu: &mut Cpu, process: ObjId, why: &str) -> Exit {
    let k = kernel();
    let regs = k.saves.area(process);
    // SAFETY: the save area of the process current on this CPU, which the core leaves to this
    // CPU alone (`tessera_core::save_areas`); nothing else refers to it here.
    let (rip, error, cr2) = unsafe { ((*regs).rip, (*regs).exit_error, (*regs).exit_cr2) };
    crate::kprintln!(
        "process {} halted: {why} at RIP {rip:#x} (error code {error:#x}, CR2 {cr2:#x})",
        process.index,
    );
    if let Err(e) = k.kernel_invoke(
        cpu,
        Cap::new(CapType::Process, process),
        order::process::HALT,
        &[],
        &[],
    ) {
        log::warn!("halting process {}: {e:?}", process.index);
    }
    k.exit(cpu)
}
