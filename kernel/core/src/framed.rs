//! The entry points with a register frame, for a platform whose entry code keeps the trapped
//! registers in a frame of its own rather than in the process's save area: the simulator and
//! the host tests, which play the arch's part. Each copies the frame into the current
//! process's save area as the x86_64 entry assembly saves it there, runs the entry point, and
//! copies the resumed process's area into the frame as that assembly loads it.

use crate::cap::ObjId;
use crate::cpu::Cpu;
use crate::keeper::Faulted;
use crate::kernel::Kernel;
use crate::platform::Platform;
use crate::scheduler::Exit;
use tessera_abi::fault::Fault;

impl<P: Platform> Kernel<P> {
    /// `syscall` with the caller's registers in `frame`; on return `frame` holds those of the
    /// process to resume (unchanged if none).
    pub fn syscall_framed(&self, cpu: &mut Cpu, frame: &mut P::SaveArea) -> Exit {
        self.save_frame(cpu, frame);
        let exit = self.syscall(cpu);
        self.load_frame(exit, frame)
    }

    /// `interrupted` with the interrupted registers in `frame`.
    pub fn interrupted_framed(
        &self,
        cpu: &mut Cpu,
        frame: &mut P::SaveArea,
        space: Option<ObjId>,
    ) -> Exit {
        self.save_frame(cpu, frame);
        let exit = self.interrupted(cpu, space);
        self.load_frame(exit, frame)
    }

    /// `fault` with the registers at the fault in `frame`.
    pub fn fault_framed(&self, cpu: &mut Cpu, frame: &P::SaveArea, f: Fault) -> Faulted {
        #[cfg(feature = "planted-bugs")]
        let lose = self.planted_is(crate::planted::PlantedBug::FaultLosesRegisters);
        #[cfg(not(feature = "planted-bugs"))]
        let lose = false;
        if !lose {
            self.save_frame(cpu, frame);
        }
        self.fault(cpu, f)
    }

    /// `exit`: the current process's registers are those in its save area (a kernel entry
    /// saved them), not `frame`'s.
    pub fn exit_framed(&self, cpu: &mut Cpu, frame: &mut P::SaveArea) -> Exit {
        let exit = self.exit(cpu);
        self.load_frame(exit, frame)
    }

    /// A current process the kernel's own DESTROY removed while it ran here (only the
    /// simulator's kernel orders do that: `save_areas.rs`) has no area left to save into.
    fn save_frame(&self, cpu: &Cpu, frame: &P::SaveArea) {
        if let Some(me) = cpu.current.filter(|&me| self.processes.is_live(me)) {
            self.current_regs(me, |r| r.clone_from(frame));
        }
    }

    fn load_frame(&self, exit: Exit, frame: &mut P::SaveArea) -> Exit {
        if let Exit::User { process, .. } = exit {
            self.current_regs(process, |r| frame.clone_from(r));
        }
        exit
    }
}
