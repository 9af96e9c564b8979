//! Checks a Chrome trace-event JSON file written by `cargo xtask trace`, reading it back with
//! `serde_json` and the trace-event field rules only (not the structures that wrote it):
//! - every CALL a process took has its RETURN: a flow start (`ph` "s") and exactly one flow end
//!   (`ph` "f") with its id, not earlier; no flow end without its start; a CALL taken by a
//!   process and left without a reply is allowed only if its caller was halted or the trace
//!   stopped first (`ended` "halted" or "unfinished");
//! - on each CPU track, timestamps never go back (in the order the events were written);
//! - on each CPU track, context switches alternate: each one switches from the process the
//!   one before switched to.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// What a good trace held (so a test can insist that it held something).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checked {
    pub calls_answered: usize,
    pub switches: usize,
    pub events: usize,
}

pub fn check(text: &str) -> Result<Checked> {
    let v: Value = serde_json::from_str(text).context("the trace is not JSON")?;
    let events = v["traceEvents"]
        .as_array()
        .context("no traceEvents array")?;
    let mut problems = Vec::new();
    let mut starts: HashMap<u64, f64> = HashMap::new();
    let mut ends: HashMap<u64, (usize, f64)> = HashMap::new();
    let mut last_ts: BTreeMap<u64, f64> = BTreeMap::new();
    let mut last_to: BTreeMap<u64, String> = BTreeMap::new();
    let mut checked = Checked {
        events: events.len(),
        ..Checked::default()
    };
    let mut unanswered = Vec::new();
    for e in events {
        let ph = e["ph"].as_str().unwrap_or("");
        if ph == "M" {
            continue;
        }
        let tid = e["tid"].as_u64().context("an event without a tid")?;
        let ts = e["ts"].as_f64().context("an event without a ts")?;
        // Slices are written per kind after the instants' lane; time order is checked per
        // CPU among the instant events, which are written in the CPU's own order.
        if ph == "i" && e["cat"] != "call" {
            if let Some(&before) = last_ts.get(&tid) {
                if ts < before {
                    problems.push(format!(
                        "CPU {tid}: time goes back from {before} to {ts} ({})",
                        e["name"]
                    ));
                }
            }
            last_ts.insert(tid, ts);
        }
        match ph {
            "s" => {
                let id = e["id"].as_u64().context("a flow without an id")?;
                if starts.insert(id, ts).is_some() {
                    problems.push(format!("flow {id} starts twice"));
                }
            }
            "f" => {
                let id = e["id"].as_u64().context("a flow without an id")?;
                let entry = ends.entry(id).or_insert((0, ts));
                entry.0 += 1;
            }
            "i" if e["cat"] == "switch" => {
                checked.switches += 1;
                let from = e["args"]["from"].as_str().unwrap_or("").to_string();
                let to = e["args"]["to"].as_str().unwrap_or("").to_string();
                if let Some(prev) = last_to.get(&tid) {
                    if *prev != from {
                        problems.push(format!(
                            "CPU {tid} at {ts}: switch from {from}, but it had switched to {prev}"
                        ));
                    }
                }
                last_to.insert(tid, to);
            }
            "i" if e["cat"] == "call" => {
                let ended = e["args"]["ended"].as_str().unwrap_or("");
                if ended == "no reply" {
                    unanswered.push(format!("{} at {ts}", e["args"]["caller"]));
                }
            }
            _ => {}
        }
    }
    for (id, start) in &starts {
        match ends.get(id) {
            None => problems.push(format!("CALL flow {id} has no RETURN")),
            Some((n, _)) if *n != 1 => problems.push(format!("CALL flow {id} has {n} RETURNs")),
            Some((_, end)) if end < start => {
                problems.push(format!("CALL flow {id} returns before it is made"))
            }
            Some(_) => checked.calls_answered += 1,
        }
    }
    for id in ends.keys().filter(|id| !starts.contains_key(id)) {
        problems.push(format!("a RETURN (flow {id}) answers no CALL"));
    }
    for call in unanswered {
        problems.push(format!(
            "a CALL taken by a process went on without a RETURN: {call}"
        ));
    }
    if !problems.is_empty() {
        problems.truncate(20);
        bail!("the trace breaks its rules:\n  {}", problems.join("\n  "));
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({"traceEvents": [
            {"ph": "M", "name": "thread_name", "pid": 1, "tid": 0, "args": {"name": "CPU 0"}},
            {"ph": "i", "cat": "switch", "name": "switch", "tid": 0, "ts": 1.0, "args": {"from": "idle", "to": "a (1)"}},
            {"ph": "i", "cat": "call", "name": "CALL made", "tid": 0, "ts": 2.0, "args": {"ended": "reply", "caller": "a (1)"}},
            {"ph": "s", "id": 0, "tid": 0, "ts": 2.0},
            {"ph": "i", "cat": "switch", "name": "switch", "tid": 0, "ts": 3.0, "args": {"from": "a (1)", "to": "b (2)"}},
            {"ph": "f", "id": 0, "tid": 0, "ts": 4.0},
            {"ph": "i", "cat": "switch", "name": "switch", "tid": 0, "ts": 5.0, "args": {"from": "b (2)", "to": "a (1)"}},
        ]})
    }

    #[test]
    fn a_good_trace_passes_and_counts() {
        let c = check(&good().to_string()).unwrap();
        assert_eq!((c.calls_answered, c.switches), (1, 3));
    }

    #[test]
    fn a_call_without_its_return_fails() {
        let mut v = good();
        v["traceEvents"].as_array_mut().unwrap().remove(5);
        assert!(check(&v.to_string())
            .unwrap_err()
            .to_string()
            .contains("has no RETURN"));
        let mut v = good();
        v["traceEvents"].as_array_mut().unwrap().remove(3);
        assert!(check(&v.to_string())
            .unwrap_err()
            .to_string()
            .contains("answers no CALL"));
        let mut v = good();
        v["traceEvents"][2]["args"]["ended"] = json!("no reply");
        assert!(check(&v.to_string()).is_err());
    }

    #[test]
    fn time_going_back_on_a_cpu_fails() {
        let mut v = good();
        v["traceEvents"][6]["ts"] = json!(0.5);
        assert!(check(&v.to_string())
            .unwrap_err()
            .to_string()
            .contains("time goes back"));
    }

    #[test]
    fn switches_that_do_not_alternate_fail() {
        let mut v = good();
        v["traceEvents"][6]["args"]["from"] = json!("c (3)");
        assert!(check(&v.to_string())
            .unwrap_err()
            .to_string()
            .contains("switch from"));
    }
}
