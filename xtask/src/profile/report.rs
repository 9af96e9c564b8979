//! From a trace (every guest instruction of one operation, each with where it is) to the
//! profile's tables: by part, by function exclusive and inclusive, by innermost inlined
//! function, and the flow.
//!
//! Guarantees: every table adds up to the trace's length (inclusive counts excepted: an
//! instruction counts once for each distinct function it is in, itself, its inlined parents and
//! its callers). Callers come from a shadow call stack per stack (the kernel's, and each user
//! address space's), rebuilt from the stack pointer: an instruction that moves `rsp` down by 8
//! and lands somewhere other than just after itself is a call, and a frame is left once `rsp`
//! is back at or above where it was before the call (a return, or the kernel stack starting over
//! at the next entry).

use std::collections::HashMap;
use std::fmt::Write as _;

/// One executed instruction, as the gdb stub showed it before executing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step {
    pub pc: u64,
    /// The address-space root (CR3 without its flag bits).
    pub cr3: u64,
    pub rsp: u64,
}

/// Where an instruction is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The user program's name, `kernel asm` or `kernel Rust`.
    pub part: String,
    /// The function of the symbol table that holds the instruction.
    pub function: String,
    /// DWARF's inline chain at the instruction, innermost first (may end in `function`).
    pub inlined: Vec<String>,
    /// Whether the instruction runs in the kernel (its stack is the kernel's).
    pub kernel: bool,
}

/// A function, named with the part it runs in (the same library function in two programs is
/// two entries).
type Key = (String, String);

/// The profile of one trace.
#[derive(Debug, Default)]
pub struct Profile {
    pub total: u64,
    pub by_part: Vec<(String, u64)>,
    pub exclusive: Vec<(Key, u64)>,
    pub inclusive: Vec<(Key, u64)>,
    pub innermost: Vec<(Key, u64)>,
    /// Runs of consecutive instructions in one function, in order.
    pub flow: Vec<(Key, u64)>,
}

/// How far past an instruction its successor may start and still be the next instruction
/// (x86 instructions are at most 15 bytes).
const LONGEST: u64 = 15;

pub fn analyse(steps: &[Step], places: &[Place]) -> Profile {
    assert_eq!(steps.len(), places.len(), "one place per step");
    let mut by_part: HashMap<&str, u64> = HashMap::new();
    let mut exclusive: HashMap<Key, u64> = HashMap::new();
    let mut inclusive: HashMap<Key, u64> = HashMap::new();
    let mut innermost: HashMap<Key, u64> = HashMap::new();
    let mut flow: Vec<(Key, u64)> = Vec::new();
    // Per stack (0 for the kernel's, else the user address space): (rsp before the call,
    // the functions the call was made from).
    let mut stacks: HashMap<u64, Vec<(u64, Vec<Key>)>> = HashMap::new();
    for (i, (step, place)) in steps.iter().zip(places).enumerate() {
        let key = (place.part.clone(), place.function.clone());
        *by_part.entry(&place.part).or_default() += 1;
        *exclusive.entry(key.clone()).or_default() += 1;
        let inner = place.inlined.first().unwrap_or(&place.function);
        *innermost
            .entry((place.part.clone(), inner.clone()))
            .or_default() += 1;
        match flow.last_mut() {
            Some((last, n)) if *last == key => *n += 1,
            _ => flow.push((key.clone(), 1)),
        }
        let stack = stacks
            .entry(if place.kernel { 0 } else { step.cr3 })
            .or_default();
        while stack.last().is_some_and(|(rsp, _)| *rsp <= step.rsp) {
            stack.pop();
        }
        let here = own_functions(place);
        let mut within: Vec<&Key> = here.iter().collect();
        for (_, callers) in stack.iter() {
            within.extend(callers);
        }
        within.sort();
        within.dedup();
        for f in within {
            *inclusive.entry(f.clone()).or_default() += 1;
        }
        if let Some(next) = steps.get(i + 1) {
            let sequential = next.pc > step.pc && next.pc <= step.pc + LONGEST;
            if next.rsp == step.rsp.wrapping_sub(8) && !sequential {
                stack.push((step.rsp, here));
            }
        }
    }
    Profile {
        total: steps.len() as u64,
        by_part: sorted(by_part.into_iter().map(|(k, v)| (k.to_string(), v))),
        exclusive: sorted(exclusive.into_iter()),
        inclusive: sorted(inclusive.into_iter()),
        innermost: sorted(innermost.into_iter()),
        flow,
    }
}

/// The functions an instruction is in without its callers: its own and those inlined there.
fn own_functions(place: &Place) -> Vec<Key> {
    let mut keys: Vec<Key> = std::iter::once(&place.function)
        .chain(&place.inlined)
        .map(|f| (place.part.clone(), f.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Largest first, then by name, so the tables are stable.
fn sorted<K: Ord>(items: impl Iterator<Item = (K, u64)>) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = items.collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// What the report says about the run beside the tables.
#[derive(Debug)]
pub struct Header {
    pub name: String,
    /// The boot: kernel, profile, command line.
    pub boot: String,
    /// The benchmark's line in the same boot (`bench: NAME ticks iterations`), if it came.
    pub figure: Option<String>,
    pub commit: String,
    /// Which stretch of the trace is the operation (`Timing::describe`).
    pub method: String,
    /// Instructions of the stretch that the bench's figure does not count.
    pub overhead: u64,
}

pub fn markdown(h: &Header, p: &Profile) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Profile of `{}`: {} guest instructions\n",
        h.name,
        p.total - h.overhead
    );
    let _ = writeln!(out, "Commit {}; {}.\n", h.commit, h.boot);
    let _ = writeln!(
        out,
        "The operation: {}. Run again after the benchmark (`profiled` in \
         `user/benches/src/lib.rs`) and single-stepped through QEMU's gdb stub, every process \
         and the kernel: {} in all; less the {} the bench does not count: {}. The bench's \
         figure: {}. The tables hold the whole stretch.\n",
        h.method,
        p.total,
        h.overhead,
        p.total - h.overhead,
        h.figure.as_deref().unwrap_or("not printed in this boot")
    );
    table(
        &mut out,
        "By part",
        &["part", "instructions", "share"],
        p.by_part
            .iter()
            .map(|(k, n)| vec![k.clone(), n.to_string(), share(*n, p.total)]),
    );
    let functions = |rows: &[(Key, u64)]| -> Vec<Vec<String>> {
        rows.iter()
            .map(|((part, f), n)| vec![part.clone(), code(f), n.to_string(), share(*n, p.total)])
            .collect()
    };
    table(
        &mut out,
        "By function, exclusive (symbol table: inlined code counts in the function it is inlined into)",
        &["part", "function", "instructions", "share"],
        functions(&p.exclusive).into_iter(),
    );
    table(
        &mut out,
        "By function, inclusive (itself, what is inlined into it and what it calls)",
        &["part", "function", "instructions", "share"],
        functions(&p.inclusive).into_iter(),
    );
    table(
        &mut out,
        "By innermost inlined function (DWARF inline information)",
        &["part", "function", "instructions", "share"],
        functions(&p.innermost).into_iter(),
    );
    let mut running = 0;
    let flow: Vec<Vec<String>> = p
        .flow
        .iter()
        .enumerate()
        .map(|(i, ((part, f), n))| {
            running += n;
            vec![
                (i + 1).to_string(),
                part.clone(),
                code(f),
                n.to_string(),
                running.to_string(),
            ]
        })
        .collect();
    table(
        &mut out,
        "Flow (runs of consecutive instructions in one function, in order)",
        &["#", "part", "function", "instructions", "so far"],
        flow.into_iter(),
    );
    out
}

/// A few lines for the terminal: the total, the parts and the heaviest functions.
pub fn summary(h: &Header, p: &Profile, top: usize) -> String {
    let mut out = format!(
        "profile of {}: {} guest instructions ({} in the stretch less {} the bench does not count; bench figure: {})\n",
        h.name,
        p.total - h.overhead,
        p.total,
        h.overhead,
        h.figure.as_deref().unwrap_or("not printed")
    );
    for (part, n) in &p.by_part {
        let _ = writeln!(out, "  {part:<28} {n:>7}  {}", share(*n, p.total));
    }
    let _ = writeln!(out, "heaviest functions (exclusive):");
    for ((part, f), n) in p.exclusive.iter().take(top) {
        let _ = writeln!(out, "  {n:>7}  {part}: {f}");
    }
    out
}

fn share(n: u64, total: u64) -> String {
    format!("{:.1}%", n as f64 * 100.0 / total.max(1) as f64)
}

fn code(name: &str) -> String {
    format!("`{}`", name.replace('|', "\\|"))
}

fn table(out: &mut String, title: &str, columns: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let _ = writeln!(out, "## {title}\n");
    let _ = writeln!(out, "| {} |", columns.join(" | "));
    let align: Vec<&str> = columns
        .iter()
        .map(|c| match *c {
            "part" | "function" => "---",
            _ => "---:",
        })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn part_counts(p: &Profile) -> BTreeMap<String, u64> {
        p.by_part.iter().cloned().collect()
    }

    fn place(part: &str, function: &str, inlined: &[&str]) -> Place {
        Place {
            part: part.into(),
            function: function.into(),
            inlined: inlined.iter().map(|s| s.to_string()).collect(),
            kernel: part.starts_with("kernel"),
        }
    }

    /// A user `caller` calls `stub`, which makes a system call: the kernel's entry asm calls
    /// `dispatch`, which calls `lookup` (with `check` inlined into it) and returns; the asm
    /// returns to user mode, `stub` returns to `caller`.
    fn synthetic() -> (Vec<Step>, Vec<Place>) {
        let u = 0x1000;
        let k = 0xffff_8000_0000_0000;
        let rows: &[(u64, u64, u64, Place)] = &[
            (0x40_1000, u, 0x7000, place("bench", "caller", &[])),
            (0x40_1004, u, 0x7000, place("bench", "caller", &[])), // call stub
            (0x40_2000, u, 0x6ff8, place("bench", "stub", &[])),
            (0x40_2002, u, 0x6ff8, place("bench", "stub", &[])), // syscall
            (
                k + 0x100,
                u,
                0x6ff8,
                place("kernel asm", "syscall_entry", &[]),
            ),
            (
                k + 0x104,
                u,
                0xa000,
                place("kernel asm", "syscall_entry", &[]),
            ), // call dispatch
            (k + 0x300, u, 0x9ff8, place("kernel Rust", "dispatch", &[])),
            (k + 0x304, u, 0x9ff8, place("kernel Rust", "dispatch", &[])), // call lookup
            (
                k + 0x500,
                u,
                0x9ff0,
                place("kernel Rust", "lookup", &["check", "lookup"]),
            ),
            (
                k + 0x503,
                u,
                0x9ff0,
                place("kernel Rust", "lookup", &["lookup"]),
            ), // ret
            (k + 0x309, u, 0x9ff8, place("kernel Rust", "dispatch", &[])), // ret
            (
                k + 0x109,
                u,
                0xa000,
                place("kernel asm", "syscall_entry", &[]),
            ), // sysret
            (0x40_2004, u, 0x6ff8, place("bench", "stub", &[])),           // ret
            (0x40_1009, u, 0x7000, place("bench", "caller", &[])),
        ];
        rows.iter()
            .map(|(pc, cr3, rsp, p)| {
                (
                    Step {
                        pc: *pc,
                        cr3: *cr3,
                        rsp: *rsp,
                    },
                    p.clone(),
                )
            })
            .unzip()
    }

    fn count(rows: &[(Key, u64)], part: &str, f: &str) -> u64 {
        rows.iter()
            .find(|((p, n), _)| p == part && n == f)
            .map_or(0, |(_, n)| *n)
    }

    #[test]
    fn tables_add_up_to_the_trace() {
        let (steps, places) = synthetic();
        let p = analyse(&steps, &places);
        assert_eq!(p.total, 14);
        assert_eq!(p.by_part.iter().map(|(_, n)| n).sum::<u64>(), 14);
        assert_eq!(p.exclusive.iter().map(|(_, n)| n).sum::<u64>(), 14);
        assert_eq!(p.innermost.iter().map(|(_, n)| n).sum::<u64>(), 14);
        assert_eq!(p.flow.iter().map(|(_, n)| n).sum::<u64>(), 14);
        let parts = part_counts(&p);
        assert_eq!(parts["bench"], 6);
        assert_eq!(parts["kernel asm"], 3);
        assert_eq!(parts["kernel Rust"], 5);
    }

    #[test]
    fn inclusive_counts_follow_calls_inlining_and_returns() {
        let (steps, places) = synthetic();
        let p = analyse(&steps, &places);
        let k = "kernel Rust";
        assert_eq!(count(&p.exclusive, k, "dispatch"), 3);
        assert_eq!(count(&p.inclusive, k, "dispatch"), 5, "itself and lookup");
        assert_eq!(count(&p.inclusive, k, "lookup"), 2);
        assert_eq!(count(&p.inclusive, k, "check"), 1, "inlined into lookup");
        assert_eq!(count(&p.innermost, k, "check"), 1);
        assert_eq!(count(&p.innermost, k, "lookup"), 1);
        assert_eq!(
            count(&p.inclusive, "kernel asm", "syscall_entry"),
            8,
            "its own 3 and dispatch's 5; the kernel stack is its own"
        );
        assert_eq!(
            count(&p.inclusive, "bench", "stub"),
            3,
            "the kernel runs on another stack: a system call is no call"
        );
        assert_eq!(
            count(&p.inclusive, "bench", "caller"),
            6,
            "after stub returned too"
        );
    }

    #[test]
    fn the_flow_is_runs_in_order() {
        let (steps, places) = synthetic();
        let p = analyse(&steps, &places);
        let runs: Vec<(&str, u64)> = p.flow.iter().map(|((_, f), n)| (f.as_str(), *n)).collect();
        assert_eq!(
            runs,
            [
                ("caller", 2),
                ("stub", 2),
                ("syscall_entry", 2),
                ("dispatch", 2),
                ("lookup", 2),
                ("dispatch", 1),
                ("syscall_entry", 1),
                ("stub", 1),
                ("caller", 1)
            ]
        );
    }

    #[test]
    fn a_kernel_entry_starts_the_kernel_stack_over() {
        // Two entries: the first leaves a frame behind (it switches away deep in a call); the
        // second starts at the stack's top again, so that frame is not its caller.
        let k = 0xffff_8000_0000_0000;
        let steps = [
            (k, 0xa000),
            (k + 0x4, 0xa000), // call deep
            (k + 0x900, 0x9ff8),
            (k + 0x20, 0xa000), // the next entry, at the top again
        ]
        .map(|(pc, rsp)| Step { pc, cr3: 1, rsp });
        let places = [
            place("kernel asm", "entry", &[]),
            place("kernel asm", "entry", &[]),
            place("kernel Rust", "deep", &[]),
            place("kernel asm", "entry", &[]),
        ];
        let p = analyse(&steps, &places);
        assert_eq!(count(&p.inclusive, "kernel asm", "entry"), 4);
        assert_eq!(count(&p.inclusive, "kernel Rust", "deep"), 1);
    }

    #[test]
    fn the_report_has_every_table_and_the_figure() {
        let (steps, places) = synthetic();
        let p = analyse(&steps, &places);
        let h = Header {
            name: "null_invocation".into(),
            boot: "release kernel".into(),
            figure: Some("bench: null_invocation 10.2 10000".into()),
            commit: "abc".into(),
            method: "one iteration".into(),
            overhead: 4,
        };
        let md = markdown(&h, &p);
        assert!(md.starts_with("# Profile of `null_invocation`: 10 guest instructions"));
        for title in [
            "## By part",
            "## By function, exclusive",
            "## By function, inclusive",
            "## By innermost",
            "## Flow",
        ] {
            assert!(md.contains(title), "{title} missing");
        }
        assert!(md.contains("| kernel Rust | `dispatch` | 3 | 21.4% |"));
        assert!(summary(&h, &p, 3).contains(
            "10 guest instructions (14 in the stretch less 4 the bench does not count; \
             bench figure: bench: null_invocation 10.2 10000)"
        ));
    }
}
