//! 100,000 chores alive at once in one task (issue 10's scale goal), on 2 host-thread VPs,
//! each suspended on one wait queue, then all released and joined; with the bytes each costs:
//! its stack chunk plus what the runtime allocates for it (counted by this binary's
//! allocator). The chunks are 4 KiB cut from one mapping, without guard pages: 100,000 guard
//! pages would need more memory mappings than Linux allows a process by default (65,530).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{run_on, YieldIdle};
use tessera_runtime::{Config, PoolConfig, Runtime, StackChunk, StackProvider, TaskId, WaitQueue};

struct Counting;

static HEAP: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting the bytes in use.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        HEAP.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        HEAP.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const N: usize = 100_000;
const CHUNK: usize = 4096;

/// Chunks cut from one leaked, zeroed allocation (no guard pages).
struct Slab {
    base: usize,
    next: AtomicUsize,
    count: usize,
}

impl StackProvider for Slab {
    fn map_chunk(&self) -> Option<StackChunk> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if i >= self.count {
            return None;
        }
        // SAFETY: chunk i of the slab is handed out once and the slab is never freed.
        Some(unsafe { StackChunk::new(self.base + i * CHUNK, CHUNK, 0) })
    }
    fn unmap_chunk(&self, _chunk: StackChunk) {}
}

#[test]
fn a_hundred_thousand_chores_alive_at_once() {
    let count = N + 256;
    let layout = Layout::from_size_align(count * CHUNK, CHUNK).unwrap();
    // SAFETY: a non-zero size; the memory is leaked on purpose (chunks point into it).
    let base = unsafe { std::alloc::alloc_zeroed(layout) } as usize;
    assert_ne!(base, 0);
    let slab = Slab {
        base,
        next: AtomicUsize::new(0),
        count,
    };
    let config = Config {
        task: TaskId::new(5).unwrap(),
        vps: 2,
        pool: PoolConfig::default(),
    };
    let rt = Runtime::new(config, Box::new(slab), Box::new(YieldIdle)).unwrap();
    let probe = rt.clone();
    let (peak, heap_per_chore) = run_on(&rt, move |ctx| {
        let gate = Arc::new(WaitQueue::new());
        let before = HEAP.load(Ordering::Relaxed);
        let mut hs = Vec::with_capacity(N);
        for i in 0..N {
            let g = gate.clone();
            hs.push(
                ctx.spawn(move |c| {
                    g.block(c);
                    i as u64
                })
                .unwrap(),
            );
        }
        while gate.len() < N {
            ctx.yield_now();
        }
        let peak = probe.live();
        let heap = (HEAP.load(Ordering::Relaxed) - before) / N;
        assert_eq!(gate.unblock_all(), N);
        let sum: u64 = hs.into_iter().map(|h| h.join(ctx)).sum();
        assert_eq!(sum, (0..N as u64).sum::<u64>());
        (peak, heap)
    });
    println!(
        "{N} chores alive at once: {} bytes each ({CHUNK} of stack chunk, {heap_per_chore} of heap: control block, entry, result, handle, queue records)",
        CHUNK + heap_per_chore
    );
    assert!(peak > N, "only {peak} chores alive at the peak");
}
