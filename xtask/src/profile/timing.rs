//! Where one operation of a benchmark is in the trace of its profiled run: the same stretch
//! its figure counts, found from the TSC reads the benchmark's own timing makes.
//!
//! Under `-icount shift=0` a TSC difference is the number of instructions from the first read
//! (included) to the second (excluded), on every address space of the CPU: in the trace, the
//! distance between the two reads' steps. Each benchmark is timed one of four ways (its
//! [`Timing`]); each way's profiled run is the same function with
//! [`ITERATIONS`] for its count (`user/benches/src/lib.rs`), and the stretch taken is a steady
//! one (never the first, which may pay for what ran before it).

use std::collections::HashMap;
use std::ops::Range;

use anyhow::{bail, Context, Result};

use super::Step;

/// `PROFILED_ITERATIONS` of `user/benches/src/measure.rs`: the count each profiled run is given.
pub const ITERATIONS: usize = 3;

/// How a benchmark times itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// `measure::per_op`: the bench program reads the TSC around a loop with an empty body,
    /// then around the operation's loop (the last four reads in its address space); the figure
    /// is the difference per iteration.
    Loop,
    /// `cases::post_queued`: the bench program reads the TSC around each batch's loop of
    /// POSTs, then `measure::from_total` around an empty loop of as many iterations: the last
    /// four reads in its address space are the last batch's two and the empty loop's.
    Batches,
    /// `irq::irq_to_driver`: the serial driver reads the TSC before each round's port write
    /// and after each message it receives, the round's IRQ POST included; after the rounds,
    /// around each of as many port writes for the overhead. The last reads outside the bench
    /// program's address space are the rounds' pairs, then the overhead's pairs.
    Rounds,
    /// `ipc::one_way`: per exchange the caller reads before its CALL, the server first thing
    /// on receiving it and just before its RETURN, the caller first thing back. The figure of
    /// each half takes off the stamps' own instructions: `BEFORE_CALL`, and `BEFORE_REPLY` +
    /// `AFTER_REPLY` (`user/benches/src/ipc.rs`).
    OneWay(Half),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    Call,
    Reply,
}

/// The stamps' own instructions in `ipc::one_way`, taken off each half.
const CALL_STAMPS: u64 = 5;
const REPLY_STAMPS: u64 = 4 + 2;

/// A TSC read in the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// Its step.
    pub at: usize,
    /// Whether the bench program's own address space made it.
    pub own: bool,
}

/// How benchmark `name` times itself.
pub fn timing(name: &str) -> Timing {
    match name {
        "post_queued" => Timing::Batches,
        "irq_to_driver" => Timing::Rounds,
        "call_one_way" => Timing::OneWay(Half::Call),
        "reply_one_way" => Timing::OneWay(Half::Reply),
        _ => Timing::Loop,
    }
}

impl Timing {
    /// What the report says the stretch is.
    pub fn describe(self) -> &'static str {
        match self {
            Timing::Loop => {
                "one iteration of the benchmark's timed loop (`measure::per_op`): every guest \
                 instruction from the loop's first to its next run, less one iteration of the \
                 empty loop"
            }
            Timing::Batches => {
                "one POST of the last batch's timed loop (`cases::post_queued`): every guest \
                 instruction from the loop's first to its next run, less one iteration of \
                 `measure::from_total`'s empty loop"
            }
            Timing::Rounds => {
                "the second timed round (`user/serial/src/irq_bench.rs`): every guest \
                 instruction from the driver's TSC read before its port write to its read \
                 after the IRQ POST arrived, less the second of its overhead pairs (two TSC \
                 reads around a harmless port write)"
            }
            Timing::OneWay(Half::Call) => {
                "the second exchange's CALL (`ipc::one_way`): every guest instruction from the \
                 caller's TSC read to the server's, less the caller's stamp instructions"
            }
            Timing::OneWay(Half::Reply) => {
                "the second exchange's RETURN (`ipc::one_way`): every guest instruction from the \
                 server's second TSC read to the caller's, less both sides' stamp instructions"
            }
        }
    }

    /// The steps of one operation in a profiled run's trace, whose TSC reads are `reads` (in
    /// order), and the instructions of it the figure does not count.
    pub fn operation(self, steps: &[Step], reads: &[Read]) -> Result<(Range<usize>, u64)> {
        let own: Vec<usize> = reads.iter().filter(|r| r.own).map(|r| r.at).collect();
        let others: Vec<usize> = reads.iter().filter(|r| !r.own).map(|r| r.at).collect();
        let all: Vec<usize> = reads.iter().map(|r| r.at).collect();
        match self {
            Timing::Loop => {
                let [.., empty_from, empty_to, op_from, op_to] = own[..] else {
                    bail!(
                        "the profiled run read the TSC {} times; per_op reads it four times",
                        own.len()
                    );
                };
                loops(steps, op_from..op_to, empty_from..empty_to)
            }
            Timing::Batches => {
                let [.., op_from, op_to, empty_from, empty_to] = own[..] else {
                    bail!("the profiled run read the TSC {} times; a batch and the empty loop read it four", own.len());
                };
                loops(steps, op_from..op_to, empty_from..empty_to)
            }
            Timing::Rounds => {
                let r = ITERATIONS;
                let n = others.len();
                if n < 4 * r {
                    bail!("the driver read the TSC {n} times; {r} rounds and their overhead read it {}", 4 * r);
                }
                let (op, over) = (n - 4 * r + 2, n - 2 * r + 2);
                Ok((
                    others[op]..others[op + 1],
                    (others[over + 1] - others[over]) as u64,
                ))
            }
            Timing::OneWay(half) => {
                let n = all.len();
                if n < 4 * ITERATIONS {
                    bail!(
                        "the exchanges read the TSC {n} times; {ITERATIONS} exchanges read it {}",
                        4 * ITERATIONS
                    );
                }
                let second = n - 4 * (ITERATIONS - 1);
                Ok(match half {
                    Half::Call => (all[second]..all[second + 1], CALL_STAMPS),
                    Half::Reply => (all[second + 2]..all[second + 3], REPLY_STAMPS),
                })
            }
        }
    }
}

/// The last whole iteration of the operation's loop in `op`, and the length of the empty
/// loop's in `empty` (what the bench takes off).
fn loops(steps: &[Step], op: Range<usize>, empty: Range<usize>) -> Result<(Range<usize>, u64)> {
    let empty = last_iteration(steps, empty.start + 1..empty.end)
        .context("the empty loop ran no second iteration")?;
    let op = last_iteration(steps, op.start + 1..op.end)
        .context("the operation's loop ran no second iteration")?;
    Ok((op, empty.len() as u64))
}

/// The last whole iteration of the loop in `within`. An iteration runs from the loop's first
/// instruction to its next run: the first instruction of the stretch that comes again at the
/// same stack pointer (what comes before the loop runs once). The last whole one is taken: the
/// first may pay for what ran before the loop (the console printing the benchmark's line),
/// which the timed loop amortises.
fn last_iteration(steps: &[Step], within: Range<usize>) -> Option<Range<usize>> {
    let mut first: HashMap<Step, usize> = HashMap::new();
    let mut head: Option<usize> = None;
    for i in within.clone() {
        match first.get(&steps[i]) {
            Some(&at) => {
                if head.is_none_or(|h| at < h) {
                    head = Some(at);
                }
            }
            None => {
                first.insert(steps[i], i);
            }
        }
    }
    let head = steps[head?];
    let runs: Vec<usize> = within.filter(|&i| steps[i] == head).collect();
    let [.., from, to] = runs[..] else {
        return None;
    };
    Some(from..to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pc: u64, rsp: u64) -> Step {
        Step { pc, cr3: 7, rsp }
    }

    fn own(at: usize) -> Read {
        Read { at, own: true }
    }

    fn other(at: usize) -> Read {
        Read { at, own: false }
    }

    /// A profiled run of per_op with three iterations: setup, the empty loop (4 instructions
    /// an iteration), the operation's loop (a call into a function with its own inner loop,
    /// which runs longer the first time). Returns the trace, its reads, where the second
    /// operation starts and its length.
    fn profiled_run() -> (Vec<Step>, Vec<Read>, usize, usize) {
        let mut t = vec![s(0x100, 0x800), s(0x104, 0x800)];
        let mut reads = vec![own(t.len())];
        t.push(s(0x200, 0x800));
        t.extend([s(0x202, 0x800), s(0x204, 0x800)]);
        for _ in 0..3 {
            t.extend([0x210, 0x214, 0x217, 0x21a].map(|pc| s(pc, 0x800)));
        }
        reads.push(own(t.len()));
        t.push(s(0x220, 0x800));
        reads.push(own(t.len()));
        t.push(s(0x230, 0x800));
        t.push(s(0x232, 0x800));
        let (mut second, mut iteration) = (0, 0);
        for round in 0..3 {
            let before = t.len();
            t.extend([0x240, 0x244, 0x247].map(|pc| s(pc, 0x800)));
            t.push(s(0x500, 0x7f8));
            for _ in 0..if round == 0 { 5 } else { 3 } {
                t.extend([0x504, 0x508].map(|pc| s(pc, 0x7f8)));
            }
            t.push(s(0x50c, 0x7f8));
            t.extend([0x24c, 0x24f].map(|pc| s(pc, 0x800)));
            if round == 1 {
                (second, iteration) = (before, t.len() - before);
            }
        }
        reads.push(own(t.len()));
        t.push(s(0x260, 0x800));
        t.push(s(0x262, 0x800));
        (t, reads, second, iteration)
    }

    #[test]
    fn a_steady_iteration_of_the_operations_loop_is_found() {
        let (steps, reads, second, iteration) = profiled_run();
        let (range, overhead) = Timing::Loop.operation(&steps, &reads).unwrap();
        assert_eq!(overhead, 4);
        assert_eq!(
            range,
            second..second + iteration,
            "the second, not the longer first"
        );
        assert_eq!(iteration, 13);
        assert_eq!(steps[range.end].pc, 0x240, "up to the loop's next run");
        let with_others: Vec<Read> = reads.iter().copied().chain([other(1)]).collect();
        assert_eq!(
            Timing::Loop.operation(&steps, &with_others).unwrap(),
            (range, overhead),
            "another space's reads are not the loop's"
        );
        assert!(
            Timing::Loop.operation(&steps, &reads[..1]).is_err(),
            "fewer than four TSC reads"
        );
        assert!(
            Timing::Loop.operation(&steps, &reads[..3]).is_err(),
            "three TSC reads"
        );
    }

    #[test]
    fn a_batch_is_timed_before_its_empty_loop() {
        let mut t = vec![s(0x100, 0x800)];
        let mut reads = vec![own(t.len())];
        t.push(s(0x200, 0x800));
        for post in 0..4 {
            t.extend([0x240, 0x244].map(|pc| s(pc, 0x800)));
            for _ in 0..if post == 0 { 9 } else { 5 } {
                t.push(s(0x500, 0x7f8));
            }
        }
        reads.push(own(t.len()));
        t.push(s(0x260, 0x800));
        reads.push(own(t.len()));
        t.push(s(0x300, 0x800));
        for _ in 0..4 {
            t.extend([0x310, 0x314, 0x317, 0x31a].map(|pc| s(pc, 0x800)));
        }
        reads.push(own(t.len()));
        t.push(s(0x320, 0x800));
        let (range, overhead) = Timing::Batches.operation(&t, &reads).unwrap();
        assert_eq!(
            (range.len(), overhead),
            (7, 4),
            "a later POST, not the first"
        );
        assert_eq!(t[range.start].pc, 0x240);
        assert_eq!(t[range.end].pc, 0x240);
        assert_eq!(
            Timing::Loop.operation(&t, &reads).unwrap().1,
            7,
            "read as per_op, the POSTs would be the empty loop"
        );
    }

    #[test]
    fn the_second_round_less_the_second_overhead_pair() {
        // The driver: a read on the BENCH_IRQ call, the probe round, three timed rounds, three
        // overhead pairs; the bench program's reads do not count.
        let at = [
            3, 10, 20, 30, 45, 60, 71, 90, 101, 130, 133, 140, 144, 150, 153,
        ];
        let mut reads: Vec<Read> = at.iter().map(|&a| other(a)).collect();
        reads.insert(0, own(1));
        let steps = vec![s(0, 0); 160];
        let (range, overhead) = Timing::Rounds.operation(&steps, &reads).unwrap();
        assert_eq!(range, 60..71);
        assert_eq!(overhead, 4);
        assert!(Timing::Rounds.operation(&steps, &reads[..12]).is_err());
    }

    #[test]
    fn the_second_exchanges_halves() {
        // The first CALL (untimed: the server's two reads), then three exchanges: the caller,
        // the server twice, the caller.
        let server = [8, 20];
        let exchanges = [[30, 44, 51, 60], [70, 85, 92, 101], [111, 126, 133, 142]];
        let reads: Vec<Read> = server
            .iter()
            .map(|&a| other(a))
            .chain(
                exchanges
                    .iter()
                    .flat_map(|e| [own(e[0]), other(e[1]), other(e[2]), own(e[3])]),
            )
            .collect();
        let steps = vec![s(0, 0); 150];
        let call = Timing::OneWay(Half::Call)
            .operation(&steps, &reads)
            .unwrap();
        let reply = Timing::OneWay(Half::Reply)
            .operation(&steps, &reads)
            .unwrap();
        assert_eq!(call, (70..85, CALL_STAMPS));
        assert_eq!(reply, (92..101, REPLY_STAMPS));
    }

    #[test]
    fn every_timing_but_the_loop_names_a_benchmark() {
        for name in [
            "post_queued",
            "irq_to_driver",
            "call_one_way",
            "reply_one_way",
        ] {
            assert_ne!(timing(name), Timing::Loop, "{name}");
        }
        assert_eq!(timing("call_reply"), Timing::Loop);
    }
}
