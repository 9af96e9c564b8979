//! Stacks a stack refill runs on (`stacks.rs`), so that it never runs on a chore's chunk. A
//! pool refills in the middle of a spawn, on the spawning chore's stack; asking the home for
//! more chunks is a CALL, and the CALL with the user library's invoke path under it is deeper
//! than what a chore near the end of a 1.5 KiB dense chunk has left: it would run on into the
//! control block at the top of the chunk below. Instead the CALL runs here, on a stack of
//! `PAGES` pages above an unmapped guard page: one stack per VP, mapped when the task is made.
//!
//! Lock: bit k of `busy` is a try-lock on stack k's memory (its holder alone runs on it).
//! Lock order: taken while holding a VP's stack-pool `RawSpin` (the runtime's innermost lock,
//! held across the refill), and held across the CALL to the home, which takes none of the
//! VPs' locks; nothing else is taken while it is held.
//!
//! Guarantees: a claim finds a free stack at once: only VPs CALL (the home spawns only before
//! it serves `MORE_STACKS`), each VP runs one refill at a time, and there is a stack per VP.
//! Were all held, a claim would spin until one is given back (after one CALL the home answers).
//! Assumes: only the home maps (`map`, before the VPs run), and the memory stays mapped until
//! the task ends.

use core::sync::atomic::{AtomicUsize, Ordering};

use tessera_user::abi::Error;

use crate::memory::{Memory, PAGE};
use crate::slots::MAX_VPS;
use crate::stacks::STACKS_VA;

/// Pages of one refill stack (the CALL under a refill needs less than one).
const PAGES: usize = 2;

#[derive(Debug)]
pub struct RefillStacks {
    count: usize,
    /// Bit k: stack k is in use.
    busy: AtomicUsize,
}

impl RefillStacks {
    /// Maps `count` stacks (at most one per VP a task may have) below the chunks' region.
    pub fn map(count: usize, memory: &mut Memory) -> Result<RefillStacks, Error> {
        if count == 0 || count > MAX_VPS {
            return Err(Error::InvalidArgument);
        }
        for k in 0..count {
            let top = Self::top(k);
            for p in 1..=PAGES {
                memory.map(((top - p * PAGE) / PAGE) as u64)?;
            }
        }
        Ok(RefillStacks {
            count,
            busy: AtomicUsize::new(0),
        })
    }

    /// Stack k's top. Stack 0 ends below the region's first page, which is never mapped (a
    /// dense region's spare page, a guarded slot's guard); one unmapped page stays below each.
    fn top(k: usize) -> usize {
        STACKS_VA - k * (PAGES + 1) * PAGE
    }

    /// Runs `f` on a free refill stack and returns its result.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let k = self.claim();
        // SAFETY: stack k is mapped (`map`), 16-byte aligned at its top, ours alone until
        // `busy`'s bit k is cleared below, and `PAGES` pages deep, more than a refill needs.
        let r = unsafe { call_on(Self::top(k), f) };
        self.busy.fetch_and(!(1 << k), Ordering::Release);
        r
    }

    fn claim(&self) -> usize {
        loop {
            let busy = self.busy.load(Ordering::Relaxed);
            let k = (!busy).trailing_zeros() as usize;
            if k >= self.count {
                core::hint::spin_loop();
                continue;
            }
            if self
                .busy
                .compare_exchange_weak(busy, busy | 1 << k, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return k;
            }
        }
    }
}

/// `f` and, once it has run, its result: what `call_on` passes to `trampoline`.
struct Call<F, R> {
    f: Option<F>,
    r: Option<R>,
}

extern "C" fn trampoline<F: FnOnce() -> R, R>(call: *mut Call<F, R>) {
    // SAFETY: `call_on` passes its own `Call`, alive and not otherwise used until we return.
    let call = unsafe { &mut *call };
    call.r = call.f.take().map(|f| f());
}

/// Runs `f` with RSP at `top`, then moves RSP back.
///
/// # Safety
/// `top` must be the 16-byte aligned top of mapped read-write memory that nothing else uses
/// while `f` runs, deep enough for `f`.
unsafe fn call_on<F: FnOnce() -> R, R>(top: usize, f: F) -> R {
    let mut call = Call {
        f: Some(f),
        r: None,
    };
    // SAFETY: the caller vouches for the stack at `top`; the old RSP is kept in r12, which the
    // callee saves, and restored before the block ends; `trampoline` follows the C ABI
    // declared by `clobber_abi`, and RSP is 16-byte aligned before the `call` as that ABI wants.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {top}",
            "call {entry}",
            "mov rsp, r12",
            top = in(reg) top,
            entry = in(reg) trampoline::<F, R> as extern "C" fn(*mut Call<F, R>),
            in("rdi") &mut call as *mut Call<F, R>,
            out("r12") _,
            clobber_abi("C"),
        );
    }
    call.r
        .unwrap_or_else(|| unreachable!("the trampoline ran `f` and kept its result"))
}
