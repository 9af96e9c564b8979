//! The user runtime (`tessera-runtime`) in ring 3 on one VP, the tester's own process: chores
//! switching, spawn and join, a contended spin-suspend lock, full/empty hand-off and a channel.
//! Also the ring-3 stack provider the benchmarks use.
//!
//! Guarantees: `StaticStacks` hands out chunks of a static arena, each to one runtime at a
//! time, and takes them back when the runtime goes away, so the test can run again (the
//! shell's `test`). Its chunks have no guard page: ring 3 has no way yet to map one
//! inaccessible page of its own memory (docs/RUNTIME.md, "Not built yet").

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use tessera_runtime::{
    channel, ChannelId, Config, FeWord, Full, Message, PoolConfig, Runtime, SpinIdle,
    SpinSuspendLock, StackChunk, StackProvider, Suspend, TaskId,
};

use crate::tester::{ensure, Outcome};

const CHUNK: usize = 16 * 1024;
const CHUNKS: usize = 8;

#[repr(C, align(4096))]
struct Arena([u8; CHUNK * CHUNKS]);

static mut ARENA: Arena = Arena([0; CHUNK * CHUNKS]);
/// Bit i set: chunk i is lent out.
static LENT: AtomicU32 = AtomicU32::new(0);

/// Stack chunks from a static arena (no guard page).
#[derive(Debug)]
pub struct StaticStacks;

impl StackProvider for StaticStacks {
    fn map_chunk(&self) -> Option<StackChunk> {
        let mut lent = LENT.load(Ordering::Relaxed);
        loop {
            let i = (!lent).trailing_zeros() as usize;
            if i >= CHUNKS {
                return None;
            }
            match LENT.compare_exchange(lent, lent | 1 << i, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => {
                    let base = core::ptr::addr_of_mut!(ARENA) as usize + i * CHUNK;
                    // SAFETY: chunk i of the arena is ours until unmap_chunk clears its bit;
                    // with no guard page (guard 0) the whole chunk is usable.
                    return Some(unsafe { StackChunk::new(base, CHUNK, 0) });
                }
                Err(now) => lent = now,
            }
        }
    }

    fn unmap_chunk(&self, chunk: StackChunk) {
        let i = (chunk.base() - core::ptr::addr_of_mut!(ARENA) as usize) / CHUNK;
        LENT.fetch_and(!(1 << i), Ordering::Release);
    }
}

/// A runtime of one VP over the static arena.
pub fn one_vp() -> Result<Runtime, String> {
    let config = Config {
        task: TaskId::new(1).unwrap_or_else(|| unreachable!()),
        vps: 1,
        pool: PoolConfig {
            low_water: 1,
            refill: 2,
            reserve: 1,
        },
    };
    Runtime::new(
        config,
        Box::new(StaticStacks),
        Box::new(SpinIdle {
            clock: tessera_user::clock::now_ns,
        }),
    )
    .map_err(|e| format!("runtime: {e:?}"))
}

/// Chores on one VP: every result as expected, every chunk back in the arena afterwards.
pub fn chores_on_one_vp() -> Outcome {
    let rt = one_vp()?;
    let out = Arc::new(FeWord::empty_cell());
    let result = out.clone();
    rt.spawn(0, move |ctx| {
        let lock = Arc::new(SpinSuspendLock::new(0u64));
        let workers: Vec<_> = (0..4u64)
            .map(|n| {
                let lock = lock.clone();
                ctx.spawn(move |c| {
                    for _ in 0..25 {
                        let mut g = lock.lock(c);
                        *g += n;
                        c.yield_now();
                    }
                })
            })
            .collect();
        let (ping, pong) = (
            Arc::new(FeWord::empty_cell()),
            Arc::new(FeWord::empty_cell()),
        );
        let (a, b) = (ping.clone(), pong.clone());
        let echo = ctx.spawn(move |c| {
            for _ in 0..100 {
                let v = a.read_fe(c);
                b.write_ef(c, v + 1);
            }
        });
        let mut handoffs = 0;
        for i in 0..100 {
            ping.write_ef(ctx, i);
            handoffs += u64::from(pong.read_fe(ctx) == i + 1);
        }
        let cid = ChannelId {
            owner: ctx.id().task(),
            index: 1,
        };
        let (tx, rx) = channel(cid, 4);
        let server = ctx.spawn(move |c| (0..50).map(|_| rx.recv(c, Suspend).data[0]).sum::<u64>());
        for i in 0..50u64 {
            let mut m = Message::new(ctx.id(), 1, [i, 0, 0, 0, 0, 0]);
            while let Err(Full(back)) = tx.send(m) {
                m = back;
                ctx.yield_now();
            }
        }
        let mut ok = 0;
        for w in workers {
            ok += u64::from(w.map(|h| h.join(ctx)).is_ok());
        }
        ok += u64::from(echo.map(|h| h.join(ctx)).is_ok());
        let served = server.map_or(0, |h| h.join(ctx));
        let total = *lock.lock(ctx);
        // Pack the four figures into one word for the checks outside the runtime.
        result.write_f(ok | handoffs << 8 | served << 16 | total << 32);
    })
    .map_err(|e| format!("spawn: {e:?}"))?;
    rt.run_vp(0);
    let word = out.try_read_ff().ok_or("the main chore never finished")?;
    let (ok, handoffs, served, total) = (
        word & 0xff,
        word >> 8 & 0xff,
        word >> 16 & 0xffff,
        word >> 32,
    );
    ensure(ok == 5, || format!("{ok} of 5 chores spawned and joined"))?;
    ensure(handoffs == 100, || {
        format!("{handoffs} of 100 full/empty hand-offs right")
    })?;
    ensure(served == 49 * 50 / 2, || {
        format!("channel carried a sum of {served}, not 1225")
    })?;
    ensure(total == 25 * 6, || {
        format!("locked counter {total}, not 150")
    })?;
    ensure(rt.live() == 0, || {
        format!("{} chores still alive", rt.live())
    })?;
    drop(rt);
    let lent = LENT.load(Ordering::Relaxed);
    ensure(lent == 0, || format!("stack chunks {lent:#b} not returned"))
}
