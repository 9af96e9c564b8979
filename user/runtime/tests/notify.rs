//! SVC notification on the host (seed 000 section 8): a chore's non-blocking call that would
//! block suspends the chore, not its VP; the notification word reaches the runtime through a
//! VP's idle (as a kernel POST reaches a listener in ring 3) and the call is retried. The
//! kernel is a fake: a server that refuses while busy and records each registration.

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::{now_ns, run_on, MmapStacks};
use tessera_runtime::{
    vp_notification, Attempt, Config, Idle, Notification, PoolConfig, Runtime, TaskId,
    NOTIFICATION_TAG,
};

/// Each VP's mailbox of notification words: the fake kernel's POSTs to the VP's endpoint.
struct Mailboxes(Vec<Mutex<VecDeque<u64>>>);

struct MailIdle(Arc<Mailboxes>);

impl Idle for MailIdle {
    fn idle(&self, vp: usize, _deadline: Option<u64>) -> Option<u64> {
        let word = self.0 .0[vp].lock().unwrap().pop_front();
        if word.is_none() {
            std::thread::yield_now();
        }
        word
    }
    fn notify(&self, _vp: usize) {}
    fn now_ns(&self) -> u64 {
        now_ns()
    }
}

/// A kernel object that would block while `busy`; it registers the caller's notification and
/// posts every registered one when it becomes free.
struct FakeServer {
    busy: AtomicBool,
    registered: Mutex<Vec<Notification>>,
    refusals: AtomicU64,
    mail: Arc<Mailboxes>,
}

impl FakeServer {
    fn try_call(&self, n: Notification) -> Attempt<u64> {
        let mut reg = self.registered.lock().unwrap();
        if self.busy.load(Ordering::SeqCst) {
            reg.push(n);
            self.refusals.fetch_add(1, Ordering::Relaxed);
            return Attempt::WouldBlock;
        }
        Attempt::Done(n.vp as u64 + 1)
    }

    fn release(&self) {
        let mut reg = self.registered.lock().unwrap();
        self.busy.store(false, Ordering::SeqCst);
        for n in reg.drain(..) {
            self.mail.0[n.vp].lock().unwrap().push_back(n.word);
        }
    }
}

fn setup(vps: usize) -> (Runtime, Arc<FakeServer>) {
    let mail = Arc::new(Mailboxes(
        (0..vps).map(|_| Mutex::new(VecDeque::new())).collect(),
    ));
    let config = Config {
        task: TaskId::new(9).unwrap(),
        vps,
        pool: PoolConfig::default(),
    };
    let rt = Runtime::new(
        config,
        Box::new(MmapStacks::new(32 * 1024, 10_000)),
        Box::new(MailIdle(mail.clone())),
    )
    .unwrap();
    let server = Arc::new(FakeServer {
        busy: AtomicBool::new(true),
        registered: Mutex::new(Vec::new()),
        refusals: AtomicU64::new(0),
        mail,
    });
    (rt, server)
}

/// On one VP: the caller is suspended while the server is busy, another chore runs meanwhile
/// (the VP is not blocked) and frees the server; the caller's retry then succeeds.
#[test]
fn would_block_suspends_the_chore_not_the_vp() {
    let (rt, server) = setup(1);
    let s = server.clone();
    let (ran_meanwhile, caller_result) = run_on(&rt, move |ctx| {
        let srv = s.clone();
        let caller = ctx
            .spawn(move |c| c.call_nonblocking(&mut |n| srv.try_call(n)))
            .unwrap();
        let srv = s.clone();
        let other = ctx
            .spawn(move |c| {
                // Runs while the caller is suspended: the VP was not given to the kernel.
                let mut steps = 0;
                for _ in 0..10 {
                    steps += 1;
                    c.yield_now();
                }
                srv.release();
                steps
            })
            .unwrap();
        (other.join(ctx), caller.join(ctx))
    });
    assert_eq!(ran_meanwhile, 10);
    assert_eq!(caller_result, 1);
    assert_eq!(server.refusals.load(Ordering::Relaxed), 1);
}

/// A notification that arrives before the chore suspends is kept: the wait ends at once.
#[test]
fn a_notification_before_the_wait_is_not_lost() {
    let (rt, _server) = setup(1);
    let rt2 = rt.clone();
    let tries = run_on(&rt, move |ctx| {
        let mut tries = 0;
        let v = ctx.call_nonblocking(&mut |n: Notification| {
            tries += 1;
            if tries < 3 {
                // The kernel posts at once, before the caller has suspended.
                assert!(rt2.deliver(n.word));
                Attempt::WouldBlock
            } else {
                Attempt::Done(n.word)
            }
        });
        assert_ne!(v & NOTIFICATION_TAG, 0);
        tries
    });
    assert_eq!(tries, 3);
}

/// Once a call completed, its word is stale: delivering it again wakes no one.
#[test]
fn a_stale_word_is_refused() {
    let (rt, _server) = setup(1);
    let rt2 = rt.clone();
    let word = run_on(&rt, move |ctx| {
        ctx.call_nonblocking(&mut |n: Notification| Attempt::Done(n.word))
    });
    assert!(!rt2.deliver(word));
    assert!(!rt2.deliver(7), "a word without the tag");
}

/// Four VPs, 64 callers, all refused while busy; one release wakes them all, each retries once.
#[test]
fn many_callers_across_vps_all_complete() {
    let (rt, server) = setup(4);
    let s = server.clone();
    let results = run_on(&rt, move |ctx| {
        let callers: Vec<_> = (0..64)
            .map(|_| {
                let srv = s.clone();
                ctx.spawn(move |c| c.call_nonblocking(&mut |n| srv.try_call(n)))
                    .unwrap()
            })
            .collect();
        while s.registered.lock().unwrap().len() < 64 {
            ctx.yield_now();
        }
        s.release();
        callers.into_iter().map(|h| h.join(ctx)).collect::<Vec<_>>()
    });
    assert_eq!(results.len(), 64);
    assert!(results.iter().all(|&v| (1..=4).contains(&v)));
    assert_eq!(server.refusals.load(Ordering::Relaxed), 64);
}

/// The kernel's way: it watches an object once per requesting VP and notifies the VP, not the
/// call. 32 callers on two VPs are refused while busy with at most two requests registered;
/// the VP-wide words that release posts wake every one of them, and all complete.
#[test]
fn a_vp_wide_notification_retries_every_call_tried_on_that_vp() {
    let (rt, server) = setup(2);
    let s = server.clone();
    let results = run_on(&rt, move |ctx| {
        let callers: Vec<_> = (0..32)
            .map(|_| {
                let srv = s.clone();
                ctx.spawn(move |c| {
                    c.call_nonblocking(&mut |n: Notification| {
                        let vp_wide = Notification {
                            vp: n.vp,
                            word: vp_notification(n.vp),
                        };
                        let mut reg = srv.registered.lock().unwrap();
                        let watched = reg.contains(&vp_wide);
                        drop(reg);
                        match srv.try_call(vp_wide) {
                            Attempt::WouldBlock if watched => {
                                // The kernel registers nothing new for a watched object.
                                reg = srv.registered.lock().unwrap();
                                let at = reg.iter().rposition(|r| *r == vp_wide).unwrap();
                                reg.remove(at);
                                Attempt::WouldBlock
                            }
                            a => a,
                        }
                    })
                })
                .unwrap()
            })
            .collect();
        while s.refusals.load(Ordering::SeqCst) < 32 {
            ctx.yield_now();
        }
        assert!(s.registered.lock().unwrap().len() <= 2);
        s.release();
        callers.into_iter().map(|h| h.join(ctx)).collect::<Vec<_>>()
    });
    assert_eq!(results.len(), 32);
    assert!(results.iter().all(|&v| (1..=2).contains(&v)));
}
