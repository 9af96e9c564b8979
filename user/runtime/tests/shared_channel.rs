//! A channel between tasks on the host: the ring lives in one buffer; the "other task" is a
//! host thread sending through a `SharedSender` and "POSTing" the word it gets back to the
//! owner's VP (its mailbox, which the VP's idle hands to `Runtime::deliver`, as a ring-3 VP's
//! idle does with a kernel POST).

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{now_ns, run_on, MmapStacks};
use tessera_runtime::{
    ring_bytes, shared_channel, ChoreId, Config, Full, Idle, Message, PoolConfig, Runtime,
    SharedSender, TaskId,
};

/// The owner's mailbox, and whether its VP has idled yet (its only chore suspended).
struct MailIdle(Arc<Mutex<VecDeque<u64>>>, Arc<AtomicBool>);

impl Idle for MailIdle {
    fn idle(&self, _vp: usize, _deadline: Option<u64>) -> Option<u64> {
        self.1.store(true, Ordering::SeqCst);
        let w = self.0.lock().unwrap().pop_front();
        if w.is_none() {
            std::thread::yield_now();
        }
        w
    }
    fn notify(&self, _vp: usize) {}
    fn now_ns(&self) -> u64 {
        now_ns()
    }
}

fn ring(capacity: u64) -> usize {
    let words = vec![0u64; ring_bytes(capacity) / 8].leak();
    words.as_mut_ptr() as usize
}

fn sender_id() -> ChoreId {
    ChoreId::new(TaskId::new(99).unwrap(), 1)
}

/// 2,000 messages from another thread through a ring of 4: all arrive, in order; the
/// receiver suspends on the empty ring and is woken by the words the sender gets back. The
/// sender starts once the owner's VP has idled, so the receiver has suspended at least once
/// whatever the host's timing (on a loaded host the sender could otherwise stay ahead).
#[test]
fn messages_cross_in_order_and_wake_the_suspended_receiver() {
    const N: u64 = 2_000;
    let mail = Arc::new(Mutex::new(VecDeque::new()));
    let idled = Arc::new(AtomicBool::new(false));
    let config = Config {
        task: TaskId::new(8).unwrap(),
        vps: 1,
        pool: PoolConfig::default(),
    };
    let rt = Runtime::new(
        config,
        Box::new(MmapStacks::new(32 * 1024, 100)),
        Box::new(MailIdle(mail.clone(), idled.clone())),
    )
    .unwrap();
    let base = ring(4);
    // SAFETY: a fresh, leaked buffer of the right size, used only as this ring.
    let mut rx = unsafe { shared_channel(base, 4) };
    let posts = Arc::new(Mutex::new(0u64));
    let p = posts.clone();
    let sender = std::thread::spawn(move || {
        // SAFETY: the ring made above; this is its one sender.
        let tx = unsafe { SharedSender::attach(base) };
        while !idled.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        for i in 0..N {
            let m = Message::new(sender_id(), 7, [i, i * i, 0, 0, 0, 0]);
            loop {
                match tx.send(&m) {
                    Ok(Some(word)) => {
                        mail.lock().unwrap().push_back(word);
                        *p.lock().unwrap() += 1;
                        break;
                    }
                    Ok(None) => break,
                    Err(Full(_)) => std::thread::yield_now(),
                }
            }
        }
    });
    let ok = run_on(&rt, move |ctx| {
        (0..N).all(|i| {
            let m = rx.recv(ctx);
            m.data[0] == i
                && m.data[1] == i * i
                && m.header.tag == 7
                && m.header.sender == sender_id()
        })
    });
    sender.join().unwrap();
    assert!(ok, "a message came out of order or changed");
    assert!(*posts.lock().unwrap() > 0, "the receiver never waited");
}

/// A full ring refuses, returns the message and loses nothing.
#[test]
fn a_full_ring_refuses_and_loses_nothing() {
    let base = ring(3);
    // SAFETY: as above.
    let mut rx = unsafe { shared_channel(base, 3) };
    // SAFETY: as above.
    let tx = unsafe { SharedSender::attach(base) };
    for i in 0..3 {
        assert_eq!(
            tx.send(&Message::new(sender_id(), 1, [i, 0, 0, 0, 0, 0])),
            Ok(None)
        );
    }
    let extra = Message::new(sender_id(), 1, [3, 0, 0, 0, 0, 0]);
    assert_eq!(tx.send(&extra), Err(Full(extra)));
    let got: Vec<u64> = std::iter::from_fn(|| rx.try_recv())
        .map(|m| m.data[0])
        .collect();
    assert_eq!(got, vec![0, 1, 2]);
}
