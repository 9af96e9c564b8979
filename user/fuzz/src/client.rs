//! A worker (client): seeded random invocations, POST floods to the receiver, and structured
//! steps that make objects from the tracked bank to exhaustion, start victims in them, halt,
//! re-enter and resume those victims, and destroy what they made.
//!
//! Invariants: the tracked objects form a stack in slots `TRACKED` (a sub-bank before the
//! objects made from it), so destroying from the top always finds a bank empty; at the end the
//! worker destroys the whole stack, so the tracked bank's accounting returns to its start.

use crate::layout::*;
use crate::random::{self, Scope};
use crate::rng::Rng;
use crate::shared::{Failure, SHARED};
use crate::victims;
use core::sync::atomic::Ordering::Relaxed;
use tessera_user::abi::{order, CapType, Error, Rights};
use tessera_user::{caps, invoke};

/// A tracked object: its slot and the slot of the bank that made it.
#[derive(Clone, Copy)]
struct Owned {
    slot: u8,
    bank: u8,
    ty: CapType,
}

struct Client {
    index: usize,
    rng: Rng,
    servers: u8,
    stack: [Option<Owned>; TRACKED.end as usize - TRACKED.start as usize],
    depth: usize,
    taint: random::Taint,
}

/// Counts one invocation and passes its result on.
fn counted<T>(r: T) -> T {
    SHARED.count(1);
    r
}

/// The entry of a worker process: `arg` = index | servers << 8 | seed << 32.
pub extern "C" fn main(arg: u64) -> ! {
    let index = (arg & 0xff) as usize;
    let mut c = Client {
        index,
        rng: Rng::new((arg >> 32) as u32, 0x100 + index as u64),
        servers: ((arg >> 8) & 0xff) as u8,
        stack: [None; TRACKED.end as usize - TRACKED.start as usize],
        depth: 0,
        taint: random::Taint(0),
    };
    let scope = Scope {
        live_endpoints: (RECEIVER, SERVERS + c.servers),
        use_endpoints: true,
        worker: Some(index),
    };
    while !SHARED.stop.load(Relaxed) {
        let op = c.rng.below(100);
        SHARED.phase[index].store(3 << 56 | op, Relaxed);
        match op {
            0..=64 => {
                let _ = random::invocation(&mut c.rng, scope, &mut c.taint);
            }
            65..=72 => c.flood(),
            73..=80 => c.victim(),
            81..=86 => c.exhaust(),
            87..=93 => c.pop(),
            _ => c.poke_victim(),
        }
    }
    while c.depth > 0 {
        c.pop_one();
    }
    SHARED.done[index].store(true, Relaxed);
    loop {
        let _ = counted(caps::halt(SELF));
    }
}

impl Client {
    /// POSTs a run of sequence-numbered words to the receiver; each accepted one is counted.
    fn flood(&mut self) {
        let n = 1 + self.rng.below(48);
        for _ in 0..n {
            let seq = SHARED.sent[self.index].load(Relaxed);
            if counted(invoke::post(RECEIVER, SEQ, seq)).is_ok() {
                SHARED.sent[self.index].store(seq + 1, Relaxed);
            }
        }
    }

    fn free_slot(&self) -> Option<u8> {
        (self.depth < self.stack.len()).then(|| TRACKED.start + self.depth as u8)
    }

    /// The bank to create from: the tracked bank, or the topmost tracked sub-bank.
    fn bank(&mut self) -> u8 {
        let mut banks = self.stack[..self.depth]
            .iter()
            .flatten()
            .filter(|o| o.ty == CapType::Bank);
        match banks.next_back() {
            Some(b) if self.rng.chance(70) => b.slot,
            _ => TRACKED_BANK,
        }
    }

    /// Creates one object of `ty` on top of the stack.
    fn create(&mut self, ty: CapType) -> Result<u8, Error> {
        let slot = self.free_slot().ok_or(Error::OutOfQuota)?;
        let bank = self.bank();
        let quota = if ty == CapType::Bank {
            self.rng.below(12)
        } else {
            0
        };
        let r = counted(invoke::call_for_cap(
            bank,
            order::bank::CREATE,
            &[ty as u64, quota],
            &[],
            slot,
        ));
        match r {
            Ok(_) => {
                self.stack[self.depth] = Some(Owned { slot, bank, ty });
                self.depth += 1;
                SHARED.created.fetch_add(1, Relaxed);
                Ok(slot)
            }
            Err(e) => {
                if e == Error::OutOfQuota {
                    SHARED.out_of_quota.fetch_add(1, Relaxed);
                }
                Err(e)
            }
        }
    }

    /// Creates objects of random types until the quota (or the stack) runs out.
    fn exhaust(&mut self) {
        let types = [
            CapType::Page,
            CapType::AddressSpace,
            CapType::CapPage,
            CapType::Process,
            CapType::Bank,
        ];
        let n = 1 + self.rng.below(self.stack.len() as u64);
        for _ in 0..n {
            let ty = types[self.rng.below(types.len() as u64) as usize];
            if self.create(ty).is_err() {
                return;
            }
        }
    }

    fn pop_one(&mut self) {
        self.depth -= 1;
        let Some(o) = self.stack[self.depth].take() else {
            return;
        };
        if o.ty == CapType::Page {
            // Unmapped first from every victim space below it: the orderly teardown, while
            // random DESTROYs cover destroying a page that is still mapped.
            for s in self.stack[..self.depth]
                .iter()
                .flatten()
                .filter(|s| s.ty == CapType::AddressSpace)
            {
                let _ = counted(caps::unmap(s.slot, VICTIM_VPN));
            }
        }
        match counted(caps::destroy(o.bank, o.slot)) {
            Ok(()) => {
                SHARED.destroyed.fetch_add(1, Relaxed);
            }
            Err(e) => SHARED.fail(Failure::Destroy, (o.ty as u64) << 32 | e.raw()),
        }
    }

    /// Destroys a few objects from the top of the stack.
    fn pop(&mut self) {
        let n = 1 + self.rng.below(4);
        for _ in 0..n {
            if self.depth == 0 {
                return;
            }
            self.pop_one();
        }
    }

    /// Makes and starts a victim: a space, a page of code (a routine or random bytes) mapped
    /// executable, and a process in that space with a server endpoint.
    fn victim(&mut self) {
        if self.stack.len() - self.depth < 3 {
            return;
        }
        let Ok(space) = self.create(CapType::AddressSpace) else {
            return;
        };
        let Ok(page) = self.create(CapType::Page) else {
            return;
        };
        let random_code = self.rng.chance(25);
        let entry = if random_code {
            for i in 0..32 {
                let _ = counted(caps::write_word(page, i, self.rng.next()));
            }
            self.rng.below(256)
        } else {
            for (i, chunk) in victims::code().chunks(8).enumerate() {
                let mut w = [0u8; 8];
                w[..chunk.len()].copy_from_slice(chunk);
                let _ = counted(caps::write_word(page, i as u64, u64::from_le_bytes(w)));
            }
            victims::offset(self.rng.below(3) as usize)
        };
        if counted(caps::map(
            space,
            VICTIM_VPN,
            page,
            Rights::READ.union(Rights::EXEC),
        ))
        .is_err()
        {
            return;
        }
        let Ok(process) = self.create(CapType::Process) else {
            return;
        };
        let va = VICTIM_VPN * 4096;
        let server = SERVERS + self.rng.below(self.servers as u64) as u8;
        let steps = [
            counted(caps::set_space(process, space)),
            counted(caps::set_entry(
                process,
                va + entry,
                va + 4096,
                self.rng.next(),
            )),
            counted(caps::set_priority(
                process,
                PRIORITY - 1 - self.rng.below(3),
            )),
            counted(caps::set_cap(process, VICTIM_TARGET, server, Rights::ALL)),
            counted(caps::resume(process)),
        ];
        match steps.iter().find(|r| r.is_err()) {
            Some(Err(e)) => SHARED.fail(Failure::Setup, e.raw()),
            _ => {
                SHARED.victims.fetch_add(1, Relaxed);
            }
        }
    }

    /// Halts a tracked process (a victim that may be queued, waiting or running on another
    /// CPU), maybe re-enters it, and resumes it.
    fn poke_victim(&mut self) {
        let processes = self.stack[..self.depth]
            .iter()
            .flatten()
            .filter(|o| o.ty == CapType::Process)
            .count();
        if processes == 0 {
            return;
        }
        let pick = self.rng.below(processes as u64) as usize;
        let Some(p) = self.stack[..self.depth]
            .iter()
            .flatten()
            .filter(|o| o.ty == CapType::Process)
            .nth(pick)
        else {
            return;
        };
        let slot = p.slot;
        let _ = counted(caps::halt(slot));
        if self.rng.chance(40) {
            let va = VICTIM_VPN * 4096;
            let ip = va + victims::offset(self.rng.below(3) as usize);
            let _ = counted(caps::set_entry(
                slot,
                ip,
                va + 4096,
                random::word(&mut self.rng),
            ));
        }
        if self.rng.chance(80) {
            let _ = counted(caps::resume(slot));
        }
    }
}
