//! A sender queue costs the kernel no memory of its own: every waiter (a stalled sender, a
//! queued POST) links through a node made with the kernel's tables and paid for with its
//! process, so flooding one recipient with stalled senders and queued POSTs allocates nothing.
//! A heap-grown queue allocated here, where nothing charged it to any bank.
#![cfg(not(loom))]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{inv, H};
use tessera_abi::message::MessageInfo;
use tessera_abi::{order, Error, InvocationKind, ProcessState, Rights};

/// Counts the allocations this thread makes while `COUNTING` is set.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const EP: u8 = 10;
const POSTS: u32 = 4;

#[test]
fn stalled_senders_and_queued_posts_allocate_no_kernel_memory() {
    let mut h = H::new(1, 16, 100, POSTS);
    let server = h.process(1);
    let mut clients = Vec::new();
    for i in 0..12 {
        let c = h.process(1);
        let ep = h.endpoint(server, i + 1);
        h.give(c, EP, ep, Rights::ALL);
        clients.push(c);
    }
    for c in &clients {
        h.start(*c);
    }
    COUNTING.with(|c| c.set(true));
    for c in &clients {
        h.tick(0);
        assert_eq!(h.current(0), Some(c.obj));
        for i in 0..POSTS {
            h.syscall_unchecked(
                0,
                inv(InvocationKind::Post, EP, 1, &[u64::from(i)], &[], [0; 4]),
            );
        }
        h.syscall_unchecked(0, inv(InvocationKind::Send, EP, 1, &[], &[], [0; 4]));
    }
    COUNTING.with(|c| c.set(false));
    for c in &clients {
        assert_eq!(
            h.state(*c),
            ProcessState::Stalled,
            "every client waits on the server"
        );
    }
    h.check();
    assert_eq!(
        ALLOCATIONS.with(Cell::get),
        0,
        "12 stalled senders and 48 queued posts on one halted server"
    );
}

/// A flood of non-blocking invocations that would block registers at most a bounded number of
/// requests per process, each paid for with its process: none allocates.
#[test]
fn a_flood_of_wouldblock_allocates_no_kernel_memory() {
    let mut h = H::new(1, 16, 100, POSTS);
    let server = h.process(1);
    let listener = h.process(1);
    let to_listener = h.endpoint(listener, 9);
    let mut clients = Vec::new();
    for i in 0..6 {
        let c = h.process(1);
        let ep = h.endpoint(server, i + 1);
        h.give(c, EP, ep, Rights::ALL);
        h.obj(c, order::process::SET_NOTIFY, &[i], &[to_listener])
            .unwrap();
        clients.push(c);
    }
    for c in &clients {
        h.start(*c);
    }
    let nb = |kind, data: &[u64]| {
        let mut i = inv(kind, EP, 1, data, &[], [0; 4]);
        i.info |= MessageInfo::NONBLOCKING;
        i
    };
    COUNTING.with(|c| c.set(true));
    for c in &clients {
        h.tick(0);
        assert_eq!(h.current(0), Some(c.obj));
        for i in 0..POSTS {
            h.syscall_unchecked(
                0,
                inv(InvocationKind::Post, EP, 1, &[u64::from(i)], &[], [0; 4]),
            );
        }
        for _ in 0..50 {
            for kind in [
                InvocationKind::Call,
                InvocationKind::Send,
                InvocationKind::Post,
            ] {
                h.syscall_unchecked(0, nb(kind, &[1]));
                assert_eq!(h.error(0), Some(Error::WouldBlock));
            }
        }
        h.syscall_unchecked(0, inv(InvocationKind::Send, EP, 1, &[], &[], [0; 4]));
    }
    COUNTING.with(|c| c.set(false));
    h.check();
    assert_eq!(
        ALLOCATIONS.with(Cell::get),
        0,
        "registering notification requests allocated"
    );
}
