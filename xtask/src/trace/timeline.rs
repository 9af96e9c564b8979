//! Turns the dumped records into what a timeline shows: per CPU, which process ran when, its
//! system calls, and marks (IRQs, POSTs, stalls, ...); across CPUs, each CALL's flow to the
//! RETURN that answered it.
//!
//! A CALL opens at its `Syscall` event. A `Delivered` of kind CALL naming it as caller says
//! which process took it; a `Delivered` of kind RETURN (or SEND through the resume capability)
//! into the caller closes it there, on the replier's CPU: that is the flow. A CALL to a kernel
//! object closes at the caller's next return to user mode without any delivery.

use std::collections::{BTreeMap, HashMap};

use tessera_abi::trace::{Kind, Record, NO_PROCESS};
use tessera_abi::{InvocationKind, MessageInfo};

use super::dump::Dump;

#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub pid: u32,
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Syscall {
    pub pid: u32,
    pub kind: &'static str,
    pub order: u32,
    pub cap: u64,
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub ts: u64,
    pub rec: Record,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Lane {
    pub cpu: u8,
    pub runs: Vec<Run>,
    pub syscalls: Vec<Syscall>,
    /// Every event but system calls and user entries, in the CPU's own order.
    pub marks: Vec<Mark>,
}

/// How a CALL ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// A process's reply, on CPU `cpu` at `ts`.
    Reply { cpu: u8, ts: u64, by: u32 },
    /// A kernel object answered (no process took it).
    Kernel,
    /// The caller was halted while it waited (its CALL ends with `Halted`).
    Halted,
    /// A process took it but the caller went on without a reply and without being halted.
    NoReply,
    /// The trace stopped first.
    Unfinished,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub caller: u32,
    pub cpu: u8,
    pub ts: u64,
    pub order: u32,
    pub taken_by: Option<u32>,
    pub end: CallEnd,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub tsc_hz: u64,
    pub start: u64,
    pub end: u64,
    pub lanes: Vec<Lane>,
    pub calls: Vec<Call>,
    pub names: BTreeMap<u32, String>,
    pub lost: u64,
}

impl Timeline {
    /// `name (pid)`, or `pid N` for a process the trace has no name for.
    pub fn label(&self, pid: u32) -> String {
        match self.names.get(&pid) {
            Some(n) => format!("{n} ({pid})"),
            None => format!("pid {pid}"),
        }
    }
}

fn kind_name(info: u64) -> &'static str {
    match MessageInfo::unpack(info).map(|i| i.kind) {
        Some(InvocationKind::Call) => "CALL",
        Some(InvocationKind::Return) => "RETURN",
        Some(InvocationKind::Send) => "SEND",
        Some(InvocationKind::Post) => "POST",
        None => "bad invocation",
    }
}

fn invocation_kind(info: u64) -> Option<InvocationKind> {
    InvocationKind::from_raw(info & 3)
}

/// Every CPU's records in one sequence by time, each CPU's own order kept as it is (so a CPU
/// whose clock went back shows it, rather than being sorted smooth).
fn merge(dump: &Dump) -> Vec<&Record> {
    let mut at = vec![0usize; dump.cpus.len()];
    let mut all = Vec::new();
    loop {
        let next = dump
            .cpus
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.records.get(at[i]).map(|r| (r.tsc, i)))
            .min();
        let Some((_, i)) = next else { return all };
        all.push(&dump.cpus[i].records[at[i]]);
        at[i] += 1;
    }
}

pub fn build(dump: &Dump) -> Timeline {
    let all = merge(dump);
    let start = all.iter().map(|r| r.tsc).min().unwrap_or(0);
    let end = all.iter().map(|r| r.tsc).max().unwrap_or(0);
    // A lane for every CPU with a ring, busy or not.
    let mut lanes: BTreeMap<u8, Lane> = dump
        .cpus
        .iter()
        .map(|c| {
            (
                c.cpu as u8,
                Lane {
                    cpu: c.cpu as u8,
                    ..Lane::default()
                },
            )
        })
        .collect();
    // Per CPU: the process running (and since when), the syscall in the kernel.
    let mut running: HashMap<u8, (u32, u64)> = HashMap::new();
    let mut in_kernel: HashMap<u8, (u32, u64, u64, u64)> = HashMap::new();
    let mut open: HashMap<u32, usize> = HashMap::new();
    let mut calls: Vec<Call> = Vec::new();
    for r in all {
        let lane = lanes.entry(r.cpu).or_insert_with(|| Lane {
            cpu: r.cpu,
            ..Lane::default()
        });
        let close_syscall = |lane: &mut Lane, in_kernel: &mut HashMap<u8, (u32, u64, u64, u64)>| {
            if let Some((pid, info, cap, t)) = in_kernel.remove(&r.cpu) {
                let order = MessageInfo::unpack(info).map_or(0, |i| i.order);
                lane.syscalls.push(Syscall {
                    pid,
                    kind: kind_name(info),
                    order,
                    cap,
                    start: t,
                    end: r.tsc,
                });
            }
        };
        match r.kind {
            Kind::Syscall => {
                close_syscall(lane, &mut in_kernel);
                in_kernel.insert(r.cpu, (r.process, r.a, r.b, r.tsc));
                if running.get(&r.cpu).is_none_or(|(p, _)| *p != r.process) {
                    running.insert(r.cpu, (r.process, r.tsc));
                }
                if invocation_kind(r.a) == Some(InvocationKind::Call) {
                    let order = MessageInfo::unpack(r.a).map_or(0, |i| i.order);
                    if let Some(i) = open.insert(r.process, calls.len()) {
                        calls[i].end = CallEnd::Unfinished;
                    }
                    calls.push(Call {
                        caller: r.process,
                        cpu: r.cpu,
                        ts: r.tsc,
                        order,
                        taken_by: None,
                        end: CallEnd::Unfinished,
                    });
                }
            }
            Kind::Switch => {
                close_syscall(lane, &mut in_kernel);
                if let Some((pid, since)) = running.remove(&r.cpu) {
                    lane.runs.push(Run {
                        pid,
                        start: since,
                        end: r.tsc,
                    });
                }
                if r.process != NO_PROCESS {
                    running.insert(r.cpu, (r.process, r.tsc));
                }
                lane.marks.push(Mark { ts: r.tsc, rec: *r });
            }
            Kind::UserEntry => {
                close_syscall(lane, &mut in_kernel);
                if let Some(i) = open.remove(&r.process) {
                    if calls[i].end == CallEnd::Unfinished {
                        calls[i].end = if calls[i].taken_by.is_some() {
                            CallEnd::NoReply
                        } else {
                            CallEnd::Kernel
                        };
                    }
                }
            }
            Kind::Delivered => {
                match invocation_kind(r.a) {
                    Some(InvocationKind::Call) => {
                        if let Some(&i) = open.get(&(r.b as u32)) {
                            calls[i].taken_by = Some(r.process);
                        }
                    }
                    Some(InvocationKind::Return | InvocationKind::Send) => {
                        if let Some(&i) = open.get(&r.process) {
                            if calls[i].taken_by.is_some() {
                                let by = in_kernel.get(&r.cpu).map_or(NO_PROCESS, |k| k.0);
                                calls[i].end = CallEnd::Reply {
                                    cpu: r.cpu,
                                    ts: r.tsc,
                                    by,
                                };
                            }
                        }
                    }
                    _ => {}
                }
                lane.marks.push(Mark { ts: r.tsc, rec: *r });
            }
            Kind::Halt => {
                if let Some(i) = open.remove(&r.process) {
                    calls[i].end = CallEnd::Halted;
                }
                lane.marks.push(Mark { ts: r.tsc, rec: *r });
            }
            _ => lane.marks.push(Mark { ts: r.tsc, rec: *r }),
        }
    }
    // What ran at the stop runs to the end, unless that CPU's ring filled first: the trace
    // does not know what it did after its last record.
    let lane_end = |cpu: u8| {
        dump.cpus
            .iter()
            .find(|c| c.cpu as u8 == cpu && c.lost > 0)
            .and_then(|c| c.records.last())
            .map_or(end, |r| r.tsc)
    };
    for (cpu, (pid, since)) in running {
        if let Some(lane) = lanes.get_mut(&cpu) {
            lane.runs.push(Run {
                pid,
                start: since,
                end: lane_end(cpu),
            });
        }
    }
    for (cpu, (pid, info, cap, t)) in in_kernel {
        if let Some(lane) = lanes.get_mut(&cpu) {
            let order = MessageInfo::unpack(info).map_or(0, |i| i.order);
            lane.syscalls.push(Syscall {
                pid,
                kind: kind_name(info),
                order,
                cap,
                start: t,
                end: lane_end(cpu),
            });
        }
    }
    for lane in lanes.values_mut() {
        lane.runs.sort_by_key(|r| r.start);
        lane.syscalls.sort_by_key(|s| s.start);
    }
    Timeline {
        tsc_hz: dump.tsc_hz,
        start,
        end,
        lanes: lanes.into_values().collect(),
        calls,
        names: dump.names.clone(),
        lost: dump.cpus.iter().map(|c| c.lost).sum(),
    }
}
