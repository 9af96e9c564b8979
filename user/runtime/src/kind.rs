//! Chore kinds and Table 1 of seed 000: which lock classes (suspension protocols) each kind of
//! chore may use, checked by the type system.
//!
//! A chore's code gets a `Ctx<K>` for its kind `K`. Every kind may spin, so every `Ctx<K>` is a
//! `Context`; only the kinds that may suspend make `Ctx<K>` a `Suspend`, and every operation
//! that can suspend (the spin-suspend and explicit-suspend locks, waiting on a full/empty cell
//! or a wait queue, a suspending channel receive, join, yield) asks for a `Suspend` context.
//!
//! | kind (seed's type)                                 | spin-only | spin-suspend | explicit-suspend | notification wait |
//! |----------------------------------------------------|:---------:|:------------:|:----------------:|:-----------------:|
//! | `Ordinary` (SvDaemon, SvPromoted)                  | x         | x            | x                | x                 |
//! | `InKernelCall` (KernelPromoted)                    | x         |              |                  |                   |
//! | `Listener` (ListenerDaemon)                        | x         |              |                  |                   |
//! | `Driver` (IOP drivers)                             | x         |              |                  |                   |
//!
//! Each forbidden pair fails to compile:
//!
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Listener>, l: &SpinSuspendLock<u32>) { l.lock(ctx); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Listener>, l: &ExplicitSuspendLock<u32>) { l.lock(ctx); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Driver>, l: &SpinSuspendLock<u32>) { l.lock(ctx); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Driver>, l: &ExplicitSuspendLock<u32>) { l.lock(ctx); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<InKernelCall>, l: &SpinSuspendLock<u32>) { l.lock(ctx); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<InKernelCall>, l: &ExplicitSuspendLock<u32>) { l.lock(ctx); }
//! ```
//!
//! The other suspending waits are refused the same way, for each non-suspending kind:
//!
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Listener>, q: &WaitQueue) { q.block(ctx); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Driver>, q: &WaitQueue) { q.block(ctx); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<InKernelCall>, q: &WaitQueue) { q.block(ctx); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Listener>, c: &FeWord) { c.read_fe(ctx); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Driver>, c: &FeWord) { c.write_ef(ctx, 1); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<InKernelCall>, c: &FeWord) { c.read_ff(ctx); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Listener>, r: &Receiver) { r.recv(ctx, Suspend); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Driver>, r: &Receiver) { r.recv(ctx, SpinSuspend); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<InKernelCall>, r: &Receiver) { r.recv(ctx, Suspend); }
//! ```
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Listener>, j: JoinHandle<u32>) { j.join(ctx); }
//! ```
//! ```compile_fail,E0599
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<InKernelCall>) { ctx.yield_now(); }
//! ```
//!
//! A notification wait (a sleep on the VP's alarm queue, or a non-blocking kernel call that
//! suspends on `WouldBlock`) is refused the same way:
//!
//! ```compile_fail,E0599
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Listener>) { ctx.sleep_for(1); }
//! ```
//! ```compile_fail,E0599
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Driver>) { ctx.call_nonblocking(&mut |_n: Notification| Attempt::Done(())); }
//! ```
//! ```compile_fail,E0599
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<InKernelCall>) { ctx.sleep_until(0); }
//! ```
//!
//! Inside a kernel call the chore's own suspending context is out of reach: `in_kernel_call`
//! borrows it for the call, so the closure cannot use it.
//!
//! ```compile_fail,E0499
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Ordinary>, l: &SpinSuspendLock<u32>) {
//!     ctx.in_kernel_call(|_k| { l.lock(ctx); });
//! }
//! ```
//!
//! A `Ctx` cannot leave its chore (it is not `Send`), so no spawned chore or remote action
//! can borrow another's right to suspend:
//!
//! ```compile_fail,E0277
//! # use tessera_runtime::*;
//! fn f(ctx: &mut Ctx<Ordinary>, other: Ctx<Ordinary>) { let _ = ctx.spawn(move |_c| drop(other)); }
//! ```
//!
//! And the allowed pairs compile, so the refusals above are the kind's doing:
//!
//! ```
//! # use tessera_runtime::*;
//! fn ordinary(ctx: &mut Ctx<Ordinary>, s: &SpinLock<u32>, ss: &SpinSuspendLock<u32>,
//!             es: &ExplicitSuspendLock<u32>, q: &WaitQueue, c: &FeWord, r: &Receiver) {
//!     drop(s.lock(ctx));
//!     drop(ss.lock(ctx));
//!     drop(es.lock(ctx));
//!     q.block(ctx);
//!     let v = c.read_fe(ctx);
//!     c.write_ef(ctx, v);
//!     r.recv(ctx, Suspend);
//!     r.recv(ctx, SpinSuspend);
//!     ctx.yield_now();
//!     ctx.sleep_for(1);
//!     ctx.call_nonblocking(&mut |_n: Notification| Attempt::Done(()));
//!     ctx.in_kernel_call(|k| { drop(s.lock(k)); r.recv(k, Spin); });
//! }
//! fn listener(ctx: &mut Ctx<Listener>, s: &SpinLock<u32>, c: &FeWord, r: &Receiver) {
//!     drop(s.lock(ctx));
//!     let _ = c.try_read_fe();
//!     r.recv(ctx, Spin);
//! }
//! fn driver(ctx: &mut Ctx<Driver>, s: &SpinLock<u32>, r: &Receiver) {
//!     drop(s.lock(ctx));
//!     r.recv(ctx, Spin);
//! }
//! ```

use core::fmt;

/// The kinds as values, for listings and debugging.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChoreKind {
    Ordinary,
    InKernelCall,
    Listener,
    Driver,
}

impl fmt::Display for ChoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChoreKind::Ordinary => "ordinary",
            ChoreKind::InKernelCall => "in-kernel-call",
            ChoreKind::Listener => "listener",
            ChoreKind::Driver => "driver",
        })
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A chore kind at the type level.
pub trait Kind: sealed::Sealed + 'static {
    const KIND: ChoreKind;
    /// Whether Table 1 lets the kind suspend (it implements `MaySuspend`), as a value: a
    /// spawn by a chore that may suspend runs the new chore first (`Ctx::spawn`).
    const MAY_SUSPEND: bool;
}

/// The kinds Table 1 lets suspend.
pub trait MaySuspend: Kind {}

/// Daemons and promoted chores: every class (the seed's SvDaemon and SvPromoted).
#[derive(Debug)]
pub enum Ordinary {}
/// Code running inside a kernel call on the chore's behalf: spin only (KernelPromoted).
#[derive(Debug)]
pub enum InKernelCall {}
/// The VP's listener, which restarts ready chores and serves remote actions: spin only.
#[derive(Debug)]
pub enum Listener {}
/// A chore serving an IRQ: spin only (the seed's IOP drivers).
#[derive(Debug)]
pub enum Driver {}

/// A kind, and whether it may suspend: the one place that says so, for both the trait
/// (`MaySuspend`, which the type checks use) and the constant.
macro_rules! kind {
    ($t:ident, may_suspend) => {
        kind!($t, true);
        impl MaySuspend for $t {}
    };
    ($t:ident, $may_suspend:literal) => {
        impl sealed::Sealed for $t {}
        impl Kind for $t {
            const KIND: ChoreKind = ChoreKind::$t;
            const MAY_SUSPEND: bool = $may_suspend;
        }
    };
}

kind!(Ordinary, may_suspend);
kind!(InKernelCall, false);
kind!(Listener, false);
kind!(Driver, false);
