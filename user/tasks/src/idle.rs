//! How a VP in ring 3 waits (seed 000 section 7: "a VP with nothing ready waits in the kernel
//! for its next notification POST"): in its open wait, for a POST to its endpoint from a VP
//! that gave it work, from its alarm (armed at its alarm queue's earliest deadline), a
//! notification word from another task, or the kernel's `NOTIFIED` for a chore's
//! non-blocking call (`kernel_call.rs`).
//!
//! A VP kept busy by its chores looks for those POSTs without waiting (`poll`): it POSTs a
//! marker to itself and takes every message queued before it, so the notifications its
//! waiting chores expect are delivered though it never idles.
//!
//! Guarantees: no lost wake-up. A notifier sets the VP's token before POSTing, and POSTs only
//! when the token was clear; an idle VP clears the token and returns (to look for work again)
//! if it was set, so work pushed before the token was cleared is seen, and work pushed after
//! comes with a POST that ends the wait. At most one POST per VP is outstanding per idle.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tessera_runtime::Idle;
use tessera_user::abi::message::InvocationKind;
use tessera_user::abi::order::alarm;
use tessera_user::abi::post::{ALARM_FIRED, NOTIFIED};
use tessera_user::nonblocking::{self, Attempt};
use tessera_user::{clock, invoke};

use crate::slots::{vp_endpoint, ALARM};

/// The order of a VP's wake-up POST.
pub const WAKE: u32 = 0x7a5c;
/// The order of a POST carrying a notification word (`Runtime::deliver`) from another task's
/// `SharedSender` (the kernel's own carry `post::NOTIFIED`).
pub const NOTIFY: u32 = 0x7a5e;
/// The order of the marker a busy VP POSTs to itself to take what was queued before it.
pub const POLL_MARK: u32 = 0x7a5f;

#[derive(Debug, Default)]
pub struct VpIdle {
    token: AtomicBool,
    /// The deadline its alarm is armed for (0: none).
    armed: AtomicU64,
    /// Waits in the kernel.
    pub waits: AtomicU64,
    /// Wake-up POSTs sent to it.
    pub posts: AtomicU64,
    /// Alarm POSTs it received.
    pub alarms: AtomicU64,
    /// Notification POSTs from other tasks it received.
    pub notes: AtomicU64,
    /// The kernel's `NOTIFIED` POSTs it received.
    pub kernel_notes: AtomicU64,
    /// Looks for notifications while busy (`poll`).
    pub polls: AtomicU64,
}

impl VpIdle {
    /// Counts a message the VP took in its open wait; the notification word it carries, if
    /// any.
    fn sort(&self, order: u32, word: u64) -> Option<u64> {
        match order {
            WAKE | POLL_MARK => None,
            ALARM_FIRED => {
                self.alarms.fetch_add(1, Ordering::Relaxed);
                None
            }
            NOTIFIED => {
                self.kernel_notes.fetch_add(1, Ordering::Relaxed);
                Some(word)
            }
            _ => {
                self.notes.fetch_add(1, Ordering::Relaxed);
                Some(word)
            }
        }
    }
}

#[derive(Debug)]
pub struct KernelIdle {
    pub vps: Box<[VpIdle]>,
    /// The VPs run: before, the home (which holds no VP endpoints) spawns without POSTing,
    /// and a VP finds that work when it starts.
    started: AtomicBool,
}

impl KernelIdle {
    pub fn new(vps: usize) -> KernelIdle {
        KernelIdle {
            vps: (0..vps).map(|_| VpIdle::default()).collect(),
            started: AtomicBool::new(false),
        }
    }

    pub fn start(&self) {
        self.started.store(true, Ordering::SeqCst);
    }
}

/// Shares the counters with the task, which reports them.
#[derive(Debug)]
pub struct SharedIdle(pub alloc::sync::Arc<KernelIdle>);

impl Idle for SharedIdle {
    fn idle(&self, vp: usize, deadline: Option<u64>) -> Option<u64> {
        let me = &self.0.vps[vp];
        if me.token.swap(false, Ordering::SeqCst) {
            return None;
        }
        if let Some(d) = deadline {
            if me.armed.load(Ordering::Relaxed) != d
                && invoke::call(ALARM, alarm::ARM, &[d, 0, d], &[vp_endpoint(vp)]).is_ok()
            {
                me.armed.store(d, Ordering::Relaxed);
            }
        }
        me.waits.fetch_add(1, Ordering::Relaxed);
        let m = invoke::wait().ok()?;
        me.sort(m.order(), m.data[0])
    }

    /// POSTs the marker to the VP's own endpoint, then takes every message queued before it.
    /// A wake-up POST taken here leaves the VP's token set, so its next idle returns at once.
    fn poll(&self, vp: usize, deliver: &mut dyn FnMut(u64)) {
        let me = &self.0.vps[vp];
        let mark = nonblocking::try_invoke(
            InvocationKind::Post,
            vp_endpoint(vp),
            POLL_MARK,
            &[0],
            &[],
            [0; 4],
        );
        if !matches!(mark, Ok(Attempt::Done(_))) {
            return;
        }
        me.polls.fetch_add(1, Ordering::Relaxed);
        while let Ok(m) = invoke::wait() {
            if m.order() == POLL_MARK {
                return;
            }
            if let Some(word) = me.sort(m.order(), m.data[0]) {
                deliver(word);
            }
        }
    }

    fn notify(&self, vp: usize) {
        let them = &self.0.vps[vp];
        if !them.token.swap(true, Ordering::SeqCst) && self.0.started.load(Ordering::SeqCst) {
            them.posts.fetch_add(1, Ordering::Relaxed);
            let _ = invoke::post(vp_endpoint(vp), WAKE, 0);
        }
    }

    fn now_ns(&self) -> u64 {
        clock::now_ns()
    }
}
