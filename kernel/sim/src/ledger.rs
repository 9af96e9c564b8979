//! The ledger: every message the simulated programs send, and what became of it. It is how
//! the simulator knows that no message or POST is lost or duplicated, that each sender's
//! messages arrive in order, and that each reply answers its own call; and every alarm
//! arming, so an alarm's POST is known to arrive at most once, where it was aimed, and never
//! before its deadline on the simulated clock; and every notification request a non-blocking
//! invocation registered, so each is known to be notified at most once, where it was aimed,
//! and (for a requester never halted) exactly once by the end of the drain.

use std::collections::BTreeMap;

use tessera_abi::InvocationKind;

/// One message a program sent.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub kind: InvocationKind,
    pub sender: usize,
    pub target: usize,
    /// The sender saw success (for SEND and POST: the kernel took the message).
    pub accepted: bool,
    /// The target received it.
    pub received: bool,
}

/// Every message, by id.
#[derive(Debug, Default)]
pub struct Ledger {
    next_id: u64,
    entries: BTreeMap<u64, Entry>,
    last_from: BTreeMap<(usize, usize), u64>,
    pub delivered: u64,
    pub irqs: u64,
    /// The simulated clock as of this round (`Platform::now_ns`).
    pub now: u64,
    /// Alarm armings by word: (target program, deadline, received).
    alarms: BTreeMap<u64, (usize, u64, bool)>,
    pub alarms_fired: u64,
    /// By client: where its notifications go, requests registered, notifications received.
    requests: BTreeMap<usize, (usize, u64, u64)>,
    /// Clients whose non-blocking invocation's result is not yet consumed: it may have
    /// registered a request already notified.
    unseen: std::collections::BTreeSet<usize>,
    pub notifications: u64,
    pub wouldblocks: u64,
}

impl Ledger {
    /// Records a new message and returns its id (ids grow in issue order).
    pub fn send(&mut self, kind: InvocationKind, sender: usize, target: usize) -> u64 {
        self.next_id += 1;
        self.entries.insert(
            self.next_id,
            Entry {
                kind,
                sender,
                target,
                accepted: false,
                received: false,
            },
        );
        self.next_id
    }

    /// A client arms its alarm to POST to `target` at `deadline`: the word it arms with.
    pub fn arm(&mut self, target: usize, deadline: u64) -> u64 {
        self.next_id += 1;
        self.alarms.insert(self.next_id, (target, deadline, false));
        self.next_id
    }

    /// `receiver` got the alarm POST carrying `word`: an arming aimed at it, received once,
    /// and not before its deadline. (An expiry merged into a queued one is never received.)
    pub fn alarm_received(&mut self, word: u64, receiver: usize) -> Result<(), String> {
        let now = self.now;
        let Some(a) = self.alarms.get_mut(&word) else {
            return Err(format!(
                "process {receiver} got an alarm POST {word} nobody armed"
            ));
        };
        match *a {
            (_, _, true) => Err(format!("alarm POST {word} arrived twice (at {receiver})")),
            (t, _, _) if t != receiver => {
                Err(format!("alarm POST {word} for {t} arrived at {receiver}"))
            }
            (_, deadline, _) if now < deadline => Err(format!(
                "alarm POST {word} arrived at {now}, before its deadline {deadline}"
            )),
            _ => {
                a.2 = true;
                self.alarms_fired += 1;
                Ok(())
            }
        }
    }

    /// `client`'s notifications go to program `target` (with `client` as the word).
    pub fn notify_to(&mut self, client: usize, target: usize) {
        self.requests.insert(client, (target, 0, 0));
    }

    /// `client` issues a non-blocking invocation.
    pub fn nonblocking(&mut self, client: usize) {
        self.unseen.insert(client);
    }

    /// `client` sees the result of its non-blocking invocation: `WouldBlock` with `registered`
    /// new requests (0 or 1), or `None` for any other result. A notification it had already
    /// been sent must now be accounted for.
    pub fn nonblocking_seen(
        &mut self,
        client: usize,
        registered: Option<u64>,
    ) -> Result<(), String> {
        self.unseen.remove(&client);
        let Some(r) = self.requests.get_mut(&client) else {
            return Ok(());
        };
        if let Some(n) = registered {
            self.wouldblocks += 1;
            r.1 += n;
        }
        if r.2 > r.1 {
            return Err(format!(
                "client {client} was notified {} times for {} requests",
                r.2, r.1
            ));
        }
        Ok(())
    }

    /// `receiver` got a notification carrying `word`: a request of that client is outstanding
    /// (none is notified twice) and the notification is aimed at `receiver`.
    pub fn notified(&mut self, word: u64, receiver: usize) -> Result<(), String> {
        let client = usize::try_from(word).unwrap_or(usize::MAX);
        let Some(r) = self.requests.get_mut(&client) else {
            return Err(format!(
                "process {receiver} got a notification {word} for nobody"
            ));
        };
        if r.0 != receiver {
            return Err(format!(
                "a notification of {client} for {} arrived at {receiver}",
                r.0
            ));
        }
        let owed = r.1 + u64::from(self.unseen.contains(&client));
        if r.2 >= owed {
            return Err(format!(
                "client {client} was notified {} times for {} requests",
                r.2 + 1,
                r.1
            ));
        }
        r.2 += 1;
        self.notifications += 1;
        Ok(())
    }

    /// After the drain: every request of a client `whole` says was never halted, aimed at a
    /// live program, was notified (none lost).
    pub fn check_notified(
        &self,
        whole: impl Fn(usize) -> bool,
        alive: impl Fn(usize) -> bool,
    ) -> Result<(), String> {
        for (&client, &(target, registered, notified)) in &self.requests {
            let owed = registered + u64::from(self.unseen.contains(&client));
            if notified > owed || (whole(client) && alive(target) && registered != notified) {
                return Err(format!(
                    "client {client} registered {registered} notification requests but got {notified}"
                ));
            }
        }
        Ok(())
    }

    /// The sender learned that message `id` was taken.
    pub fn accepted(&mut self, id: u64) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.accepted = true;
        }
    }

    /// The program message `id` was sent to (`usize::MAX` if unknown).
    pub fn target_of(&self, id: u64) -> usize {
        self.entries.get(&id).map_or(usize::MAX, |e| e.target)
    }

    /// Whether `id` has been received.
    pub fn was_received(&self, id: u64) -> bool {
        self.entries.get(&id).is_some_and(|e| e.received)
    }

    /// `target` received message `id` of `kind` from `sender`: it must exist, be addressed to
    /// `target`, not have been received before, and come after the sender's earlier ones.
    pub fn receive(
        &mut self,
        id: u64,
        kind: InvocationKind,
        sender: usize,
        target: usize,
    ) -> Result<(), String> {
        let Some(e) = self.entries.get_mut(&id) else {
            return Err(format!(
                "process {target} received message {id}, which nobody sent"
            ));
        };
        if e.received {
            return Err(format!("message {id} was delivered twice (to {target})"));
        }
        if e.target != target || e.sender != sender || e.kind != kind {
            return Err(format!(
                "message {id} {e:?} arrived at {target} as {kind:?} from {sender}"
            ));
        }
        e.received = true;
        self.delivered += 1;
        let last = self.last_from.entry((sender, target)).or_insert(0);
        if *last > id {
            return Err(format!(
                "messages from {sender} to {target} out of order: {id} after {last}"
            ));
        }
        *last = id;
        Ok(())
    }

    /// After the drain: every accepted SEND or POST to a target still alive was received.
    pub fn check_complete(&self, alive: impl Fn(usize) -> bool) -> Result<(), String> {
        for (id, e) in &self.entries {
            let must = e.accepted && matches!(e.kind, InvocationKind::Send | InvocationKind::Post);
            if must && !e.received && alive(e.target) {
                return Err(format!(
                    "message {id} {e:?} was accepted but never delivered"
                ));
            }
        }
        Ok(())
    }
}
