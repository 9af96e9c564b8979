//! The Chrome trace-event JSON that Perfetto (ui.perfetto.dev) and chrome://tracing open: one
//! track (thread) per CPU, a slice per process run named by the process, a nested slice per
//! system call, instant events for everything else, and a flow from each CALL to the RETURN
//! that answered it. Times are microseconds from the first event.

use serde_json::{json, Value};
use tessera_abi::trace::{switch_why, Kind, NO_PROCESS};
use tessera_abi::MessageInfo;

use super::timeline::{CallEnd, Timeline};

const PID: u32 = 1;

fn why(w: u64) -> &'static str {
    match w {
        switch_why::INVOKED => "invoked",
        switch_why::PREEMPTED => "preempted",
        switch_why::FAULTED => "faulted",
        switch_why::FROM_IDLE => "from idle",
        _ => "?",
    }
}

fn mark_name(kind: Kind, a: u64) -> String {
    match kind {
        Kind::IrqNoted => format!("IRQ noted (vector {a})"),
        Kind::IrqPosted => format!("IRQ {a} posted"),
        Kind::Delivered => match MessageInfo::unpack(a) {
            Some(i) => format!("{:?} delivered (order {})", i.kind, i.order).to_uppercase(),
            None => "delivered".into(),
        },
        Kind::PostQueued => "POST queued".into(),
        Kind::Stall => "stall".into(),
        Kind::Wake => "wake".into(),
        Kind::OwnerPassed => "queue ownership passed".into(),
        Kind::Halt => "halt".into(),
        Kind::Resume => "resume".into(),
        Kind::Fault => "fault".into(),
        Kind::User => "user event".into(),
        Kind::AlarmFired => format!("alarm {a} fired"),
        Kind::WouldBlock => "WOULDBLOCK".into(),
        Kind::Notified => "notification fired".into(),
        Kind::Invoked => match tessera_abi::CapType::from_raw(a) {
            Some(ty) => format!("invoke {ty:?}"),
            None => format!("invoke type {a}"),
        },
        other => format!("{other:?}"),
    }
}

pub fn render(t: &Timeline) -> Value {
    let us = |tsc: u64| -> f64 {
        let hz = t.tsc_hz.max(1) as f64;
        ((tsc - t.start) as f64 * 1e6 / hz * 1000.0).round() / 1000.0
    };
    let mut events =
        vec![json!({"ph": "M", "name": "process_name", "pid": PID, "args": {"name": "Tessera"}})];
    for lane in &t.lanes {
        let tid = u32::from(lane.cpu);
        events.push(json!({"ph": "M", "name": "thread_name", "pid": PID, "tid": tid, "args": {"name": format!("CPU {tid}")}}));
        for r in &lane.runs {
            events.push(
                json!({"ph": "X", "cat": "run", "name": t.label(r.pid), "pid": PID, "tid": tid,
                "ts": us(r.start), "dur": us(r.end) - us(r.start), "args": {"process": r.pid}}),
            );
        }
        for s in &lane.syscalls {
            events.push(
                json!({"ph": "X", "cat": "syscall", "name": s.kind, "pid": PID, "tid": tid,
                "ts": us(s.start), "dur": us(s.end) - us(s.start),
                "args": {"process": s.pid, "order": s.order, "cap": s.cap}}),
            );
        }
        for m in &lane.marks {
            let r = m.rec;
            if r.kind == Kind::Switch {
                let name = |p: u32| {
                    if p == NO_PROCESS {
                        "idle".to_string()
                    } else {
                        t.label(p)
                    }
                };
                events.push(json!({"ph": "i", "s": "t", "cat": "switch", "name": "switch", "pid": PID, "tid": tid, "ts": us(m.ts),
                    "args": {"from": name(r.a as u32), "to": name(r.process), "why": why(r.b)}}));
                continue;
            }
            let mut args = json!({"a": r.a, "b": r.b});
            if r.process != NO_PROCESS {
                args["process"] = json!(t.label(r.process));
            }
            if r.kind == Kind::User {
                args["code"] = json!(r.code);
            }
            events.push(json!({"ph": "i", "s": "t", "cat": format!("{:?}", r.kind), "name": mark_name(r.kind, r.a),
                "pid": PID, "tid": tid, "ts": us(m.ts), "args": args}));
        }
    }
    for (id, c) in t.calls.iter().enumerate() {
        let ended = match c.end {
            CallEnd::Reply { .. } => "reply",
            CallEnd::Kernel => "kernel",
            CallEnd::Halted => "halted",
            CallEnd::NoReply => "no reply",
            CallEnd::Unfinished => "unfinished",
        };
        events.push(json!({"ph": "i", "s": "t", "cat": "call", "name": "CALL made", "pid": PID, "tid": u32::from(c.cpu),
            "ts": us(c.ts), "args": {"call": id, "caller": t.label(c.caller), "order": c.order, "ended": ended,
            "taken_by": c.taken_by.map(|p| t.label(p))}}));
        if let CallEnd::Reply { cpu, ts, by } = c.end {
            events.push(json!({"ph": "s", "cat": "ipc", "name": "CALL→RETURN", "id": id, "pid": PID, "tid": u32::from(c.cpu), "ts": us(c.ts)}));
            events.push(json!({"ph": "f", "bp": "e", "cat": "ipc", "name": "CALL→RETURN", "id": id, "pid": PID, "tid": u32::from(cpu), "ts": us(ts),
                "args": {"replier": t.label(by)}}));
        }
    }
    json!({"traceEvents": events, "displayTimeUnit": "ns",
        "otherData": {"tsc_hz": t.tsc_hz, "lost_events": t.lost}})
}
