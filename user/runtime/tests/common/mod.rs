//! Host plumbing for the runtime's tests: stack chunks from mmap with a PROT_NONE guard page
//! (raw Linux syscalls, so the crate needs no libc), host threads as VPs, and an idle that
//! yields the host CPU.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::arch::asm;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tessera_runtime::{
    Config, Ctx, Idle, Ordinary, PoolConfig, Runtime, StackChunk, StackProvider, TaskId,
};

const PAGE: usize = 4096;
const PROT_NONE: usize = 0;
const PROT_RW: usize = 3;
const MAP_PRIVATE_ANON_NORESERVE: usize = 0x02 | 0x20 | 0x4000;

unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller passes a valid Linux syscall; rcx and r11 are clobbered by `syscall`.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a[0], in("rsi") a[1],
             in("rdx") a[2], in("r10") a[3], in("r8") a[4], in("r9") a[5],
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// Chunks of `chunk` bytes (guard page included) from mmap, at most `limit` of them.
pub struct MmapStacks {
    pub chunk: usize,
    pub limit: usize,
    pub mapped: Arc<AtomicUsize>,
}

impl MmapStacks {
    pub fn new(chunk: usize, limit: usize) -> MmapStacks {
        MmapStacks {
            chunk,
            limit,
            mapped: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl StackProvider for MmapStacks {
    fn map_chunk(&self) -> Option<StackChunk> {
        if self.mapped.fetch_add(1, Ordering::Relaxed) >= self.limit {
            self.mapped.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        // SAFETY: an anonymous private mapping touches no existing memory.
        let base = unsafe {
            syscall6(
                9,
                [
                    0,
                    self.chunk,
                    PROT_RW,
                    MAP_PRIVATE_ANON_NORESERVE,
                    usize::MAX,
                    0,
                ],
            )
        };
        assert!(base > 0, "mmap failed: {base}");
        let base = base as usize;
        // SAFETY: the first page of the mapping we just made.
        let r = unsafe { syscall6(10, [base, PAGE, PROT_NONE, 0, 0, 0]) };
        assert_eq!(r, 0, "mprotect of the guard page failed");
        // SAFETY: the mapping is ours until unmap_chunk; its first page is inaccessible.
        Some(unsafe { StackChunk::new(base, self.chunk, PAGE) })
    }

    fn unmap_chunk(&self, chunk: StackChunk) {
        // SAFETY: the chunk was mapped by map_chunk and no chore runs on it any more.
        let r = unsafe { syscall6(11, [chunk.base(), chunk.len(), 0, 0, 0, 0]) };
        assert_eq!(r, 0, "munmap failed");
        self.mapped.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Nanoseconds since the first call: the host tests' clock for sleeps.
pub fn now_ns() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

/// Host threads sharing 2 cores with other jobs: give the core away while idle.
pub struct YieldIdle;

impl Idle for YieldIdle {
    fn idle(&self, _vp: usize, _deadline: Option<u64>) -> Option<u64> {
        std::thread::yield_now();
        None
    }
    fn notify(&self, _vp: usize) {}
    fn now_ns(&self) -> u64 {
        now_ns()
    }
}

pub fn runtime(vps: usize, chunk: usize, limit: usize) -> Runtime {
    let config = Config {
        task: TaskId::new(7).unwrap(),
        vps,
        pool: PoolConfig::default(),
    };
    Runtime::new(
        config,
        Box::new(MmapStacks::new(chunk, limit)),
        Box::new(YieldIdle),
    )
    .unwrap()
}

/// Runs `main` as the task's first chore on `rt`, with every VP a host thread; returns its
/// result once every chore has exited.
pub fn run_on<T: Send + 'static>(
    rt: &Runtime,
    main: impl FnOnce(&mut Ctx<Ordinary>) -> T + Send + 'static,
) -> T {
    let out = Arc::new(std::sync::Mutex::new(None));
    let slot = out.clone();
    rt.spawn(0, move |ctx| {
        let v = main(ctx);
        *slot.lock().unwrap() = Some(v);
    })
    .unwrap();
    std::thread::scope(|s| {
        for i in 0..rt.vps() {
            let rt = rt.clone();
            s.spawn(move || rt.run_vp(i));
        }
    });
    assert_eq!(rt.live(), 0);
    let v = out.lock().unwrap().take();
    v.expect("the main chore did not finish")
}

pub fn run<T: Send + 'static>(
    vps: usize,
    main: impl FnOnce(&mut Ctx<Ordinary>) -> T + Send + 'static,
) -> T {
    run_on(&runtime(vps, 32 * 1024, 100_000), main)
}
