//! Going back to user mode: what lies between the core's decision (`Exit::User`) and the entry
//! asm, done by the CPU loop after any exit, and by the syscall entry itself when it can return
//! straight to user mode (the direct return).
//!
//! The direct return: `syscall_entry` calls `syscall_direct` on the kernel stack, which runs the
//! core's `Kernel::syscall`. If the core decides at once to run a process that last left user
//! mode by `syscall` (the caller itself, or the receiver of a fast-path CALL or RETURN), the
//! address space, I/O-port grant and SSE area are set up here and the entry asm goes back by
//! `sysretq`, never unwinding into the CPU loop; otherwise the decided `Exit` is handed to the
//! loop (`EXIT_DECIDED`), which does the rest as after any other exit. So the loop's locals
//! that both need (the cached roots, the loaded tables, the open ports, the trace's view) live
//! in `Returning`, and the loop lends it and the core's `Cpu` to the entry for the time user
//! code runs (`Returning::run_user`).
//!
//! Registers are never copied on the way: the entry saves them into the current process's
//! save area in the core (`tessera_core::save_areas`), which `GS_USER_CTX` points at, and a
//! switch to another process only points it at that process's area (`entry::set_user_ctx`).
//!
//! # Invariants
//! - A CPU's `Returning` and `Cpu` are reached only by that CPU, with interrupts off: by the
//!   loop, or, while the loop is inside `run_user`, by `syscall_direct` through the pointers
//!   lent for that time (`LENT`), never both at once.
//! - `GS_USER_CTX` points at the save area of the process current on this CPU (the core's
//!   ownership rule makes it this CPU's alone), set before each entry to user mode.
//! - `loaded` is what CR3 holds and the TLB epoch it was loaded at: a CR3 write is skipped only
//!   when both match (the tables are the same and no mapping was removed since).

use core::sync::atomic::{AtomicPtr, Ordering};

use crate::cpu::percpu::{percpu, MAX_CPUS};
use crate::mem::layout::USER_END;
use crate::system::{derived_tables, fx_states, io_grants, kernel, tlb};
use crate::user::context::{FxState, UserContext};
use crate::user::entry::{self, EXIT_DECIDED, EXIT_SYSCALL};
use tessera_abi::boot::io_ports;
use tessera_core::cap::ObjId;
use tessera_core::cpu::Cpu;
use tessera_core::scheduler::Exit;

/// The state of one CPU's returns to user mode.
pub struct Returning {
    /// The PML4s of the last two address spaces entered (a call and its reply alternate
    /// between two): a space's PML4 never changes, and an ObjId names one space for ever. A
    /// destroyed space's entry may linger but is never asked for again, except by an exit the
    /// core decided before the destruction; its PML4 is then still in limbo (this CPU has not
    /// been quiescent since), and stays there while this CPU has it loaded (`tlb::loaded`).
    /// A space without its own PML4 yet runs on the empty one, which is not cached.
    roots: [(ObjId, u64); 2],
    /// CR3 and the TLB epoch it was loaded at.
    loaded: (u64, u64),
    /// Whether the serial ports are open in this CPU's I/O bitmap.
    ports_open: bool,
    /// The process last prepared to enter user mode, its address space, its SSE area and its
    /// save area: the one in user mode while the loop is inside `run_user`, even after direct
    /// returns switched to another. An ObjId names one process for ever, and its areas stay its
    /// own while it lives, so they are looked up again only for another process.
    entered: Entered,
    /// The exit `syscall_direct` decided and left to the loop.
    decided: Option<Exit>,
    #[cfg(feature = "trace")]
    pub traced: crate::trace::CpuTrace,
}

/// The process entered last and where its state is kept.
#[derive(Clone, Copy)]
struct Entered {
    process: ObjId,
    space: ObjId,
    fx: *mut FxState,
    regs: *mut UserContext,
}

/// What the loop lends the syscall entry while user code runs on this CPU.
struct Lent {
    cpu: *mut Cpu,
    returning: *mut Returning,
}

static LENT: [AtomicPtr<Lent>; MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];

impl Returning {
    /// Nothing loaded, nothing cached.
    pub fn new() -> Returning {
        Returning {
            roots: [(ObjId::NONE, 0); 2],
            loaded: (0, u64::MAX),
            ports_open: false,
            entered: Entered {
                process: ObjId::NONE,
                space: ObjId::NONE,
                fx: core::ptr::null_mut(),
                regs: core::ptr::null_mut(),
            },
            decided: None,
            #[cfg(feature = "trace")]
            traced: crate::trace::CpuTrace::default(),
        }
    }

    /// Makes `process` ready to enter in `space` on CPU `me`: its tables in CR3, its I/O-port
    /// grant in the bitmap, its save area the entry's. Returns its SSE area, or `None` if its
    /// tables cannot be made (no memory): the caller halts it.
    #[inline]
    pub fn prepare(
        &mut self,
        me: u32,
        process: ObjId,
        space: ObjId,
    ) -> Option<&'static mut FxState> {
        let root = if self.roots[0].0 == space {
            self.roots[0].1
        } else if self.roots[1].0 == space {
            self.roots.swap(0, 1);
            self.roots[0].1
        } else if let Some(r) = derived_tables::root_of(space) {
            self.roots = [(space, r), self.roots[0]];
            r
        } else {
            derived_tables::empty_root()?
        };
        self.enter_space(me, root);
        let open = io_grants::of(process) == Some(io_ports::SERIAL);
        if open != self.ports_open {
            percpu().set_serial_ports_open(open);
            self.ports_open = open;
        }
        if self.entered.process != process {
            self.entered.fx = fx_states::of(process);
            self.entered.regs = kernel().saves.area(process);
            self.entered.process = process;
        }
        self.entered.space = space;
        entry::set_user_ctx(self.entered.regs);
        // SAFETY: `fx` is `process`'s own area (`fx_states::of`), used only by the CPU running it.
        Some(unsafe { &mut *self.entered.fx })
    }

    /// Loads the address space's tables unless they are loaded and no mapping was removed since.
    fn enter_space(&mut self, me: u32, root: u64) {
        let epoch = tlb::EPOCH.load(Ordering::Acquire);
        if self.loaded != (root, epoch) {
            // SAFETY: `root` is a PML4 whose upper half is the kernel's.
            unsafe {
                x86_64::registers::control::Cr3::write(
                    x86_64::structures::paging::PhysFrame::containing_address(
                        x86_64::PhysAddr::new(root),
                    ),
                    x86_64::registers::control::Cr3Flags::empty(),
                )
            };
            tlb::loaded(me, root);
            self.loaded = (root, epoch);
        }
    }

    /// The process that was in user mode when `run_user` returned, and its address space: not
    /// necessarily the one the loop entered, as a direct return may have switched since.
    pub fn entered(&self) -> (ObjId, ObjId) {
        (self.entered.process, self.entered.space)
    }

    /// The registers of the process entered last (`entered`), saved in its save area by the
    /// way it left user mode.
    pub fn regs(&mut self) -> &mut UserContext {
        // SAFETY: the area of the process current on this CPU, which the core leaves to this
        // CPU alone (`tessera_core::save_areas`); the loop holds no other reference to it.
        unsafe { &mut *self.entered.regs }
    }

    /// The exit `syscall_direct` decided, after `run_user` returned `EXIT_DECIDED`.
    pub fn take_decided(&mut self) -> Option<Exit> {
        self.decided.take()
    }

    /// Runs the current process (its tables loaded by `prepare`) in user mode until it leaves
    /// it, lending `cpu` and `self` to `syscall_direct` for that time; returns the trap
    /// vector, or `EXIT_DECIDED` with the next exit in `take_decided`.
    pub fn run_user(&mut self, cpu: &mut Cpu, fx: &mut FxState) -> u64 {
        let me = percpu().id as usize;
        let regs = self.entered.regs;
        let mut lent = Lent {
            cpu,
            returning: self,
        };
        LENT[me].store(&mut lent, Ordering::Relaxed);
        // SAFETY: this CPU's tables are loaded and it holds no lock (the loop's contract);
        // `regs` is the save area of the process current here, this CPU's alone; from here
        // until the return only the entry path reaches the lent state, through `lent`.
        let vector = unsafe { entry::run_user(regs, fx) };
        LENT[me].store(core::ptr::null_mut(), Ordering::Relaxed);
        vector
    }
}

/// Called by `syscall_entry` (registers saved in the current process's save area, SSE state
/// saved) on the kernel stack, with interrupts off: runs the system call in the core and
/// returns 0 if the entry returns to user mode by `sysretq` at once (`GS_USER_CTX` and
/// `GS_USER_FX` then name the process to resume), or `EXIT_DECIDED` to leave the decided exit
/// to the loop
/// (`EXIT_SYSCALL`, the system call not run, if no loop lent its state).
#[no_mangle]
extern "C" fn syscall_direct() -> u64 {
    let me = percpu().id;
    let lent = LENT[me as usize].load(Ordering::Relaxed);
    if lent.is_null() {
        // `entry::run_user` called outside the CPU loop (the kernel's own tests of the entry
        // path): the system call goes back to that caller.
        return EXIT_SYSCALL;
    }
    // SAFETY: `run_user` stored a pointer to its live `Lent` for the time user code runs on
    // this CPU, and user code left by `syscall`, so the loop is suspended inside that call and
    // nothing else reaches the state lent.
    let (cpu, returning) = unsafe {
        let lent = &*lent;
        (&mut *lent.cpu, &mut *lent.returning)
    };
    tlb::quiescent(me);
    tlb::reclaim();
    #[cfg(feature = "trace")]
    {
        returning.traced.left(EXIT_SYSCALL);
        let process = cpu
            .current()
            .map_or(tessera_abi::trace::NO_PROCESS, |p| p.index);
        let regs = returning.regs();
        let (info, cap) = (regs.rsi, regs.rdi);
        crate::trace::event(me, tessera_abi::trace::Kind::Syscall, process, info, cap);
    }
    let exit = kernel().syscall(cpu);
    tlb::settle();
    if let Exit::User {
        process,
        space: Some(space),
    } = exit
    {
        if let Some(fx) = returning.prepare(me, process, space) {
            let regs = returning.regs();
            if regs.exit_vector == EXIT_SYSCALL && regs.rip < USER_END {
                fx.sanitize_mxcsr();
                regs.rflags = regs.sanitized_rflags();
                #[cfg(feature = "trace")]
                {
                    let rax = regs.rax;
                    returning.traced.entering(me, process.index, rax);
                }
                entry::set_user_fx(fx);
                return 0;
            }
        }
    }
    returning.decided = Some(exit);
    EXIT_DECIDED
}
