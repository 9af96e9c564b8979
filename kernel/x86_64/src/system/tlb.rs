//! TLB coherence between CPUs, and when a frame that was mapped may be used again.
//!
//! A removal (an unmapped page, an evicted page table) advances `EPOCH` and interrupts the
//! other CPUs. A CPU reloads CR3 before it next enters user mode whenever the epoch moved
//! (`cpu_loop::enter_space`), and the kernel itself never reaches user memory through user
//! mappings; so once a CPU has been in the kernel after a removal (`quiescent`), it holds no
//! stale translation from before it.
//!
//! A freed frame may still be cached in another CPU's TLB until then, so it waits in `LIMBO`,
//! tagged with the epoch of its freeing, until every CPU has been quiescent at or after that
//! epoch; only then does it go back to the frame allocator (`reclaim`). Nothing here waits for
//! another CPU: the core frees frames while holding its locks, and other CPUs may be spinning
//! on them with interrupts off.
//!
//! A PML4 is also a frame the CPU reads while in the kernel (CR3), so a freed one also waits
//! until no CPU has it loaded (`LOADED`): a CPU may still run on a destroyed space's PML4 from
//! the moment the space dies until it next switches (at worst while it idles after it).
//!
//! Lock order: `LIMBO` is a leaf; `reclaim` drops it before taking `KMEM`.

use crate::cpu::percpu::MAX_CPUS;
use crate::mem::kmem::KMEM;
use alloc::collections::VecDeque;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use spin::Mutex;

pub static EPOCH: AtomicU64 = AtomicU64::new(1);
/// The epoch each CPU last saw from the kernel; `u64::MAX` for a CPU that never runs user code.
static SEEN: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_CPUS];
/// The PML4 each CPU has in CR3 (0 before its first switch).
static LOADED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Freed frames (physical address, epoch when freed) not yet safe to reuse.
static LIMBO: Mutex<VecDeque<(u64, u64)>> = Mutex::new(VecDeque::new());
/// How many frames wait in `LIMBO`, so the common case (none) costs one load.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// After removing a translation: move to a new epoch and make every other CPU enter the kernel.
pub fn shoot_down() {
    EPOCH.fetch_add(1, Ordering::AcqRel);
    let me = crate::cpu::percpu::percpu().id as usize;
    for id in (0..crate::cpu::percpu::cpu_count()).filter(|&i| i != me) {
        if let Some(c) = crate::cpu::percpu::cpu(id) {
            crate::apic::lapic::send_ipi(c.apic_id, crate::trap::vectors::IPI_RESCHEDULE);
        }
    }
}

/// This CPU is in the kernel: it will reload CR3 before user mode if the epoch moved.
#[inline]
pub fn quiescent(cpu: u32) {
    SEEN[cpu as usize].store(EPOCH.load(Ordering::Acquire), Ordering::Release);
}

/// This CPU now runs on PML4 `root`: published before its next `quiescent`, so a reclaim that
/// sees that also sees the root in use.
#[inline]
pub fn loaded(cpu: u32, root: u64) {
    LOADED[cpu as usize].store(root, Ordering::Release);
}

/// A frame the core has freed: it goes back to the allocator once no TLB can hold it.
pub fn free_later(pa: u64) {
    LIMBO.lock().push_back((pa, EPOCH.load(Ordering::Acquire)));
    WAITING.fetch_add(1, Ordering::AcqRel);
}

/// Gives back every frame in limbo that no CPU can still cache: one freed at epoch E is safe
/// once every CPU has been quiescent at E or later. Returns how many. Runs after every exit
/// from user mode, so the common case (nothing waits) is one load, inlined.
#[inline]
pub fn reclaim() -> usize {
    if WAITING.load(Ordering::Acquire) == 0 {
        return 0;
    }
    reclaim_waiting()
}

#[inline(never)]
fn reclaim_waiting() -> usize {
    let oldest = SEEN.iter().map(|s| s.load(Ordering::Acquire)).min().unwrap_or(u64::MAX);
    let in_cr3 = |pa: u64| LOADED.iter().any(|l| l.load(Ordering::Acquire) == pa);
    let mut ready = alloc::vec::Vec::new();
    {
        let mut limbo = LIMBO.lock();
        let mut kept = 0;
        while limbo.get(kept).is_some_and(|&(_, epoch)| epoch <= oldest) {
            match limbo[kept] {
                (pa, _) if in_cr3(pa) => kept += 1,
                _ => ready.extend(limbo.remove(kept).map(|(pa, _)| pa)),
            }
        }
    }
    WAITING.fetch_sub(ready.len(), Ordering::AcqRel);
    if let Some(km) = KMEM.lock().as_mut() {
        for &pa in &ready {
            if let Err(e) = km.frames.free(pa) {
                log::warn!("the core freed frame {pa:#x} twice or out of range: {e:?}");
            }
        }
    }
    ready.len()
}

crate::ktest! {
    fn a_freed_frame_waits_until_every_cpu_has_passed_through_the_kernel() {
        use crate::check;
        let Some(pa) = KMEM.lock().as_mut().and_then(|k| k.frames.alloc()) else {
            return Err(crate::ktest::Failure { file: file!(), line: line!(), message: "a frame to free" });
        };
        let free = || KMEM.lock().as_ref().map_or(0, |k| k.frames.free_frames());
        let (me, other) = (crate::cpu::percpu::percpu().id as usize, MAX_CPUS - 1);
        let before = free();
        shoot_down();
        let epoch = EPOCH.load(Ordering::Acquire);
        SEEN[other].store(epoch - 1, Ordering::Release);
        free_later(pa);
        quiescent(me as u32);
        check!(reclaim() == 0 && free() == before, "a CPU that has not seen the shoot-down keeps the frame in limbo");
        SEEN[other].store(epoch, Ordering::Release);
        check!(reclaim() == 1 && free() == before + 1, "once every CPU has seen it, the frame is free again");
        SEEN[other].store(u64::MAX, Ordering::Release);
        check!(reclaim() == 0, "nothing is freed twice");
    }
}
