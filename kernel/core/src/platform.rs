//! The platform trait: the only door from the kernel core to hardware. The x86_64 kernel and the
//! simulator implement it.
//!
//! # Assumptions the core makes of an implementation
//! - Methods may be called from any CPU at once (`Sync`); none blocks.
//! - `alloc_frame` fails by returning `None`, never by panicking; the core then runs the
//!   cleaner and tries once more before refusing the call with `OutOfQuota`.
//! - Page tables are a cache derived from the core's mapping records: the platform may drop
//!   them at any time, and must drop what `mapping_removed`/`table_evicted`/`space_destroyed`
//!   name before returning. It installs an entry only when the core asks (`mapping_derived`),
//!   which the core does while it holds the locks that make the entry valid.
//! - A frame passed to `frame_freed` has no derived entry left (the core removed them first),
//!   but a CPU may still cache a translation to it: the platform reuses it only once no CPU
//!   can (its TLB limbo).
//!
//! The arch side enters user mode itself after `Kernel::exit` says which process to resume,
//! and reads the current CPU from its own per-CPU block: the core is told both through `Cpu`.

use tessera_abi::fault::Reg;
use tessera_abi::message::{Invocation, Reply};

use crate::cap::ObjId;
use crate::fault::Translation;
use crate::sync::{CpuId, Turn};
use crate::trace::Event;

/// A physical frame number handed out by the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frame(pub u64);

/// A process's saved user registers, in the platform's own layout.
pub trait SaveArea: Default + Clone {
    /// The invocation registers (see `tessera_abi::message`).
    fn invocation(&self) -> Invocation;
    /// Writes the reply registers.
    fn set_reply(&mut self, reply: &Reply);
    /// Sets where a new process starts: instruction pointer, stack pointer, first argument.
    fn set_entry(&mut self, pc: u64, sp: u64, arg: u64);
    /// A user register (`READ_REGS`).
    fn reg(&self, r: Reg) -> u64;
    /// Writes a user register (`WRITE_REGS`); every register written must reach user mode as
    /// written when the process next runs.
    fn set_reg(&mut self, r: Reg, value: u64);
}

/// What the core asks of the machine.
pub trait Platform: Sync {
    /// The save-area layout of this platform.
    type SaveArea: SaveArea;

    /// The kernel's clock: nanoseconds since boot (`tessera_abi::clock`), never going back,
    /// the same on every CPU.
    fn now_ns(&self) -> u64;

    /// Interrupts `cpu` so that it enters the kernel and reschedules at its next exit.
    fn send_ipi(&self, cpu: CpuId);
    /// A free physical frame, or `None` if memory is exhausted.
    fn alloc_frame(&self) -> Option<Frame>;
    /// Returns a frame. The core has removed every derived mapping of it; the platform reuses
    /// it only when no CPU's TLB can still reach it.
    fn frame_freed(&self, frame: Frame);
    /// Zeroes a frame.
    fn zero_frame(&self, frame: Frame);
    /// Reads word `word` (below 512) of a frame.
    fn read_frame_word(&self, frame: Frame, word: usize) -> u64;
    /// Writes word `word` (below 512) of a frame.
    fn write_frame_word(&self, frame: Frame, word: usize, value: u64);
    /// The mapping of virtual page `vpn` in address space `space` is gone: drop the derived
    /// page-table entry and shoot down stale TLB entries.
    fn mapping_removed(&self, space: ObjId, vpn: u64);
    /// Installs the derived page-table entry of `vpn` in `space`: `t.frame` with `t.rights`, in
    /// leaf table `t.table`. Called with the space and the page locked, so no removal of the
    /// mapping can run between the core's check and the entry. False if the platform has no
    /// memory for the levels above the leaf (nothing is then installed).
    fn mapping_derived(&self, space: ObjId, vpn: u64, t: &Translation) -> bool;
    /// Address space `space` is destroyed: drop every derived entry and table of it, return
    /// the platform's own levels and root through the TLB limbo, and never load its root again.
    /// The core then returns its leaf tables (`table_evicted`, `frame_freed`).
    fn space_destroyed(&self, space: ObjId);
    /// The cleaner evicted the derived page table `table` (virtual page number / 512) of
    /// `space`, held in `frame`: unhook it before the frame is reused.
    fn table_evicted(&self, space: ObjId, table: u64, frame: Frame);
    /// From now on process `process` may use the I/O ports of the platform's range `range` in
    /// user mode (`None`: no ports at all). Called with the process locked. A later process in
    /// the same table slot has another generation and must not inherit the grant.
    fn io_ports_granted(&self, process: ObjId, range: Option<u32>);

    /// Whether IRQ line `line` is level-triggered: it keeps interrupting while its device
    /// asserts it, so the core masks it from its interrupt until its driver ACKs. An
    /// edge-triggered line is never masked while bound. Called in interrupt context.
    fn irq_level_triggered(&self, line: u32) -> bool;
    /// Masks (`true`) or unmasks IRQ line `line` at the interrupt controller. Called in
    /// interrupt context (`Kernel::note_irq`, level-triggered lines only) and from kernel
    /// paths holding the line's lock (ACK, BIND, UNBIND); a line that is not the platform's
    /// is ignored.
    fn set_irq_masked(&self, line: u32, masked: bool);

    /// Whether simulated CPUs take turns on the host (`HeldLocks`, "Turns"). Hardware: no.
    const TAKES_TURNS: bool = false;
    /// The kernel path on this CPU is at a lock operation: the simulator may run another CPU's
    /// path first. Hardware does nothing.
    #[inline(always)]
    fn turn(&self, _at: Turn) {}

    /// Whether this platform records trace events (`TRACE_EVENT` and `TRACE_SWITCH` are
    /// refused with `BadState` otherwise).
    const TRACES: bool = false;
    /// Records `event` on `cpu` if tracing is on (a user event naming a process is kept even
    /// while it is off). Called from kernel paths with locks held: it must not block. The
    /// default does nothing and costs nothing.
    #[inline(always)]
    fn trace(&self, _cpu: CpuId, _event: Event) {}
    /// Starts (`true`) or stops tracing; a stop writes out what was recorded. Returns the
    /// events recorded since the start.
    fn trace_switch(&self, _on: bool) -> u64 {
        0
    }
}
