//! TLB coherence between CPUs, and when a frame that was mapped may be used again.
//!
//! A removal (an unmapped page, an evicted page table) clears the entry and marks a shoot-down
//! owed (`cleared`); the next frame freed on any CPU, or the next exit from the kernel on any
//! CPU, pays it (`settle`): `EPOCH` advances and the other CPUs are interrupted. So a page
//! DESTROY that drops many mappings costs one epoch and one round of IPIs, paid when its frame
//! is freed. The epoch must move before a frame that a cleared entry named is tagged for reuse;
//! the core frees such a frame only under a lock the removal held, and the owed mark is set
//! before that lock goes, so the free sees it and pays first. A CPU reloads CR3 before it next
//! enters user mode whenever the epoch moved (`cpu_loop::enter_space`), and the kernel itself
//! never reaches user memory through user mappings; so once a CPU has been in the kernel after
//! a removal's epoch (`quiescent`), it holds no stale translation from before it.
//!
//! A freed frame may still be cached in another CPU's TLB until then, so it waits in the
//! limbo, tagged with the epoch of its freeing, until every CPU has been quiescent at or after
//! that epoch; only then does it go back to the frame allocator (`reclaim`). Nothing here waits
//! for another CPU: the core frees frames while holding its locks, and other CPUs may be
//! spinning on them with interrupts off.
//!
//! The core frees frames after its commit points, where nothing may allocate or fail, so the
//! limbo allocates nothing: it is a FIFO list threaded through a table with one link per frame
//! of RAM, mapped once at boot (`init`). The links are not kept in the freed frames themselves:
//! a frame in limbo is exactly one that a user process on another CPU may still write through a
//! stale TLB entry, and a link it could forge would hand any frame to the allocator.
//!
//! A PML4 is also a frame the CPU reads while in the kernel (CR3), so a freed one also waits
//! until no CPU has it loaded (`LOADED`): a CPU may still run on a destroyed space's PML4 from
//! the moment the space dies until it next switches (at worst while it idles after it).
//!
//! Lock order: `LIMBO` is a leaf; `reclaim` drops it before taking `KMEM`.

use crate::cpu::percpu::MAX_CPUS;
use crate::mem::kmem::{self, KMEM};
use crate::mem::layout::PAGE_SIZE;
use crate::mem::page_table::PageTableFlags;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use spin::Mutex;

pub static EPOCH: AtomicU64 = AtomicU64::new(1);
/// The epoch each CPU last saw from the kernel; `u64::MAX` for a CPU that never runs user code.
static SEEN: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_CPUS];
/// The PML4 each CPU has in CR3 (0 before its first switch).
static LOADED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// An entry was cleared since the epoch last moved: a shoot-down is owed.
static OWED: AtomicBool = AtomicBool::new(false);
/// Freed frames not yet safe to reuse, oldest first.
static LIMBO: Mutex<Limbo> = Mutex::new(Limbo {
    links: &mut [],
    head: NONE,
    tail: NONE,
});
/// How many frames wait in `LIMBO`, so the common case (none) costs one load.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Where the link table is mapped (PML4 slot 505, below the heap's).
const LINKS_BASE: u64 = 0xffff_fc80_0000_0000;
/// No frame: the end of the list.
const NONE: u64 = u64::MAX;
/// How many frames `reclaim` gives back per hold of `KMEM`.
const BATCH: usize = 32;

/// A frame's place in the limbo.
#[derive(Clone, Copy)]
struct Link {
    /// The next frame (number) waiting, or `NONE`.
    next: u64,
    /// The epoch the frame was freed at; 0 while it is not in limbo (epochs start at 1).
    epoch: u64,
}

/// The limbo: a FIFO of frame numbers (so in epoch order) threaded through `links`.
struct Limbo {
    links: &'static mut [Link],
    head: u64,
    tail: u64,
}

/// Maps the limbo's link table: one link for each frame below `top` (the top of usable RAM).
pub fn init(top: u64) {
    let frames = top.div_ceil(PAGE_SIZE);
    let bytes = frames * core::mem::size_of::<Link>() as u64;
    kmem::map_fresh(
        LINKS_BASE,
        bytes.div_ceil(PAGE_SIZE),
        PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE | PageTableFlags::GLOBAL,
    )
    .expect("memory for the TLB limbo's links");
    let base = LINKS_BASE as *mut Link;
    // SAFETY: the range was just mapped for this table alone, is aligned, and is claimed once,
    // here; every link starts out of the limbo.
    let links = unsafe {
        core::ptr::write_bytes(base, 0, frames as usize);
        core::slice::from_raw_parts_mut(base, frames as usize)
    };
    LIMBO.lock().links = links;
}

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

/// A translation was cleared: a shoot-down is owed before a frame it named is reused and
/// before any CPU leaves the kernel (see the module header).
#[inline]
pub fn cleared() {
    OWED.store(true, Ordering::Release);
}

/// Pays an owed shoot-down, if one is. Cheap when none is: one load.
#[inline]
pub fn settle() {
    if OWED.load(Ordering::Acquire) && OWED.swap(false, Ordering::AcqRel) {
        shoot_down();
    }
}

/// A frame the core has freed: it goes back to the allocator once no TLB can hold it. Never
/// allocates (the core calls it after commit points). A frame already waiting, or beyond the
/// table, is a core bug: reported and left out.
pub fn free_later(pa: u64) {
    settle();
    let frame = pa / PAGE_SIZE;
    let epoch = EPOCH.load(Ordering::Acquire);
    let mut limbo = LIMBO.lock();
    let tail = limbo.tail;
    let Some(link) = limbo.links.get_mut(frame as usize) else {
        drop(limbo);
        log::warn!("the core freed frame {pa:#x}, beyond the limbo's table");
        return;
    };
    if link.epoch != 0 {
        drop(limbo);
        log::warn!("the core freed frame {pa:#x} twice");
        return;
    }
    *link = Link { next: NONE, epoch };
    match tail {
        NONE => limbo.head = frame,
        t => limbo.links[t as usize].next = frame,
    }
    limbo.tail = frame;
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
    let oldest = SEEN
        .iter()
        .map(|s| s.load(Ordering::Acquire))
        .min()
        .unwrap_or(u64::MAX);
    let in_cr3 = |frame: u64| {
        LOADED
            .iter()
            .any(|l| l.load(Ordering::Acquire) == frame * PAGE_SIZE)
    };
    let mut total = 0;
    loop {
        let mut ready = [0u64; BATCH];
        let mut n = 0;
        {
            let mut limbo = LIMBO.lock();
            // `prev` is the last frame kept (a PML4 still loaded somewhere), whose link is
            // re-threaded past each frame taken out.
            let (mut prev, mut at) = (NONE, limbo.head);
            while at != NONE && n < BATCH && limbo.links[at as usize].epoch <= oldest {
                let Link { next, .. } = limbo.links[at as usize];
                if in_cr3(at) {
                    prev = at;
                } else {
                    limbo.links[at as usize] = Link {
                        next: NONE,
                        epoch: 0,
                    };
                    match prev {
                        NONE => limbo.head = next,
                        p => limbo.links[p as usize].next = next,
                    }
                    if limbo.tail == at {
                        limbo.tail = prev;
                    }
                    ready[n] = at;
                    n += 1;
                }
                at = next;
            }
        }
        WAITING.fetch_sub(n, Ordering::AcqRel);
        if let Some(km) = KMEM.lock().as_mut() {
            for &frame in &ready[..n] {
                if let Err(e) = km.frames.free(frame * PAGE_SIZE) {
                    log::warn!(
                        "the core freed frame {:#x} out of range: {e:?}",
                        frame * PAGE_SIZE
                    );
                }
            }
        }
        total += n;
        if n < BATCH {
            return total;
        }
    }
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
