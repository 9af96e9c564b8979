//! `cargo xtask bench`: boots the release kernel on one CPU under `-icount shift=0`, so guest
//! instruction counts are deterministic, and records its `bench:` lines in
//! `target/tessera/bench.json` and as a bar chart in `target/tessera/bench.svg`. A second boot,
//! of a kernel built with tracing, measures what tracing costs.
//!
//! Guarantees: `target/tessera/bench.json` is written only from a boot that ended in the
//! kernel's success code, reported no failed benchmark (`bench <name> failed: ...`) and printed
//! at least one well-formed, uniquely named result. It holds each benchmark's instructions per
//! operation and iteration count, the date and the git commit (with whether the tree was
//! dirty). Numbers are kept exactly as the guest printed them.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use serde_json::{json, Number};

use crate::build::{self, Profile};
use crate::capture;
use crate::install::ensure_qemu;
use crate::qemu::{self, Boot, Exit};
use crate::workspace::Workspace;

/// Benchmarks run long under `-icount`; this only catches a hung kernel.
const BOOT_LIMIT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BenchResult {
    pub(crate) name: String,
    pub(crate) instructions_per_op: Number,
    pub(crate) iterations: u64,
}

pub fn run() -> Result<()> {
    let ws = Workspace::load()?;
    ensure_qemu()?;
    let artifacts = build::build(&ws, Profile::Release)?;
    let symbolizer = qemu::load_symbolizer(&ws, &artifacts.kernel);
    let mut boot = Boot::new(&artifacts);
    boot.icount = true;
    boot.append = Some("bench".into());
    let capture = capture::boot(&ws, &boot, "bench", symbolizer.as_ref(), BOOT_LIMIT)?;
    if capture.exit != Exit::Success {
        bail!(
            "the bench boot did not succeed: {} (log: {})",
            capture.exit,
            capture.log.display()
        );
    }
    let results = collect(&capture.lines)?;
    let failed: Vec<&str> = capture
        .lines
        .iter()
        .filter_map(|l| failed_bench(l))
        .collect();
    if !failed.is_empty() {
        bail!("benchmarks failed in the guest: {}", failed.join(", "));
    }
    if results.is_empty() {
        bail!("the kernel printed no `bench: <name> <instructions_per_op> <iterations>` lines");
    }
    print_table(&results);
    let traced = tracing_cost(&ws, &results)?;
    let path = ws.tessera_dir().join("bench.json");
    let mut report = report(&results, &ws.root);
    report["tracing_built_in"] = benchmarks_json(&traced);
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("could not write {}", path.display()))?;
    println!("wrote {}", path.display());
    let bars: Vec<(String, f64)> = results
        .iter()
        .filter_map(|r| Some((r.name.clone(), r.instructions_per_op.as_f64()?)))
        .collect();
    let chart = ws.tessera_dir().join("bench.svg");
    std::fs::write(&chart, crate::bench_chart::render(&bars))
        .with_context(|| format!("could not write {}", chart.display()))?;
    println!(
        "wrote {} (the figures beside the reference points, as a bar chart)",
        chart.display()
    );
    Ok(())
}

/// The CPUs `--scaling` boots: the cases run 1, 2 and 4 pairs.
const SCALING_CPUS: u32 = 4;

/// `cargo xtask bench --scaling`: boots 4 CPUs under multi-threaded TCG without `-icount`
/// (time, not instructions, is what scales) and prints each case's calls per second and its
/// ratio to the same case with one client, all from one run.
pub fn run_scaling() -> Result<()> {
    let ws = Workspace::load()?;
    ensure_qemu()?;
    let artifacts = build::build(&ws, Profile::Release)?;
    let symbolizer = qemu::load_symbolizer(&ws, &artifacts.kernel);
    let mut boot = Boot::new(&artifacts);
    boot.smp = SCALING_CPUS;
    boot.append = Some("bench scaling".into());
    let capture = capture::boot(&ws, &boot, "bench-scaling", symbolizer.as_ref(), BOOT_LIMIT)?;
    if capture.exit != Exit::Success {
        bail!(
            "the scaling boot did not succeed: {} (log: {})",
            capture.exit,
            capture.log.display()
        );
    }
    let failed: Vec<&String> = capture
        .lines
        .iter()
        .filter(|l| (l.contains("scaling ") || l.contains("scale ")) && l.contains(" failed:"))
        .collect();
    if !failed.is_empty() {
        bail!("scaling cases failed in the guest: {failed:?}");
    }
    let cases: Vec<(String, f64)> = capture
        .lines
        .iter()
        .filter_map(|l| {
            let (_, rest) = l.split_once("scaling: ")?;
            let [name, per_second, _calls] = rest.split_whitespace().collect::<Vec<_>>()[..] else {
                return None;
            };
            Some((name.to_owned(), per_second.parse().ok()?))
        })
        .collect();
    if cases.is_empty() {
        bail!("the kernel printed no `scaling: <name> <calls per second> <calls>` lines");
    }
    println!("\n{:<16}  {:>14}  {:>8}", "case", "calls/s", "vs 1");
    for (name, per_second) in &cases {
        let kind = name.rsplit_once('_').map_or(name.as_str(), |(k, _)| k);
        let one = cases
            .iter()
            .find(|(n, _)| n == &format!("{kind}_1"))
            .map_or(f64::NAN, |(_, v)| *v);
        println!("{name:<16}  {per_second:>14.0}  {:>7.2}x", per_second / one);
    }
    println!(
        "(one run, {SCALING_CPUS} guest CPUs on {} host CPUs; ratios are within this run)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let scale = capture
        .lines
        .iter()
        .find_map(|l| l.split_once("scale: chores_alive ").map(|(_, rest)| rest))
        .context("the kernel printed no `scale: chores_alive <bytes per chore> <chores>` line")?;
    let mut words = scale.splitn(3, ' ');
    let (Some(bytes), Some(chores), how) = (words.next(), words.next(), words.next()) else {
        bail!("a malformed scale line: {scale}");
    };
    println!(
        "\n{chores} chores alive at once in one task: {bytes} bytes per chore {}",
        how.unwrap_or("").trim()
    );
    Ok(())
}

/// `bench: <name> <instructions_per_op> <iterations>`, after an optional prefix.
pub(crate) fn parse_line(line: &str) -> Option<BenchResult> {
    let (_, rest) = line.split_once("bench: ")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let [name, per_op, iterations] = fields[..] else {
        return None;
    };
    let per_op: Number = per_op.parse().ok()?;
    if per_op.as_f64().is_none_or(|v| v < 0.0) || per_op.to_string().starts_with('-') {
        return None;
    }
    let iterations: u64 = iterations.parse().ok().filter(|&n| n > 0)?;
    Some(BenchResult {
        name: name.to_owned(),
        instructions_per_op: per_op,
        iterations,
    })
}

/// `bench <name> failed: <why>`, which the user benchmarks print instead of a result.
fn failed_bench(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once("bench ")?;
    let (name, _) = rest.split_once(" failed:")?;
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

fn collect(lines: &[String]) -> Result<Vec<BenchResult>> {
    let mut results: Vec<BenchResult> = Vec::new();
    for result in lines.iter().filter_map(|l| parse_line(l)) {
        if results.iter().any(|r| r.name == result.name) {
            bail!("the kernel reported benchmark `{}` twice", result.name);
        }
        results.push(result);
    }
    Ok(results)
}

fn print_table(results: &[BenchResult]) {
    let width = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0)
        .max("benchmark".len());
    println!(
        "\n{:<width$}  {:>16}  {:>12}",
        "benchmark", "instructions/op", "iterations"
    );
    for r in results {
        println!(
            "{:<width$}  {:>16}  {:>12}",
            r.name,
            r.instructions_per_op.to_string(),
            r.iterations
        );
    }
    println!("\n{REFERENCES}");
}

/// What the figures are read against (guest instructions under `-icount shift=0`, from the
/// project's brief; they are not measured by this run).
const REFERENCES: &str = "reference points, same unit: seL4 call+reply 415 (fast path: call 194 + reply 221, \
to compare with call_reply, call_one_way, reply_one_way) / 1,406 (slow path); Linux 6.1 getppid 326 (null_invocation); \
Linux 6.1 futex ping-pong round trip ~9,900 (post_ping_pong); targets: call_reply <= 350, null_invocation <= 200";

fn report(results: &[BenchResult], root: &std::path::Path) -> serde_json::Value {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    json!({
        "date": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        "commit": commit,
        "dirty": dirty,
        "benchmarks": benchmarks_json(results),
    })
}

fn benchmarks_json(results: &[BenchResult]) -> serde_json::Value {
    let benchmarks: BTreeMap<&str, serde_json::Value> = results
        .iter()
        .map(|r| {
            let entry =
                json!({"instructions_per_op": r.instructions_per_op, "iterations": r.iterations});
            (r.name.as_str(), entry)
        })
        .collect();
    json!(benchmarks)
}

/// The same benchmarks on a kernel built with tracing (`trace` feature), tracing off, beside
/// `plain`'s figures; that kernel also prints the cost of one trace site, off and recording
/// (`trace_site_off`, `trace_event_on`). Returns its results.
fn tracing_cost(ws: &Workspace, plain: &[BenchResult]) -> Result<Vec<BenchResult>> {
    let artifacts = build::build_with(ws, Profile::Release, &[crate::trace::FEATURE])?;
    let symbolizer = qemu::load_symbolizer(ws, &artifacts.kernel);
    let mut boot = Boot::new(&artifacts);
    boot.icount = true;
    boot.append = Some("bench".into());
    let capture = capture::boot(ws, &boot, "bench-traced", symbolizer.as_ref(), BOOT_LIMIT)?;
    if capture.exit != Exit::Success {
        bail!(
            "the bench boot with tracing built in did not succeed: {} (log: {})",
            capture.exit,
            capture.log.display()
        );
    }
    let traced = collect(&capture.lines)?;
    println!(
        "
with tracing built in (off); the kernel's own trace-site figures last:"
    );
    println!(
        "{:<18}  {:>16}  {:>16}",
        "benchmark", "instructions/op", "without tracing"
    );
    for r in &traced {
        let before = plain
            .iter()
            .find(|p| p.name == r.name)
            .map_or("-".to_string(), |p| p.instructions_per_op.to_string());
        println!(
            "{:<18}  {:>16}  {:>16}",
            r.name,
            r.instructions_per_op.to_string(),
            before
        );
    }
    Ok(traced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_lines_parse_with_exact_numbers() {
        let r = parse_line("bench: ipc_call 412 10000").unwrap();
        assert_eq!(r.name, "ipc_call");
        assert_eq!(r.instructions_per_op.to_string(), "412");
        assert_eq!(r.iterations, 10000);
        let r = parse_line("[cpu0] bench: cap_copy 87.25 512\r").unwrap();
        assert_eq!(r.instructions_per_op.to_string(), "87.25");
    }

    #[test]
    fn malformed_bench_lines_are_ignored() {
        for line in [
            "bench: ipc_call 412",
            "bench: ipc_call 412 10000 extra",
            "bench: ipc_call many 10000",
            "bench: ipc_call -3 10000",
            "bench: ipc_call 412 0",
            "bench: ipc_call 412 1.5",
            "bench ipc_call 412 10000",
            "booting bench mode",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn failed_benchmarks_are_recognised() {
        assert_eq!(failed_bench("bench send failed: NoRights"), Some("send"));
        assert_eq!(failed_bench("bench: send 12.5 2000"), None);
        assert_eq!(failed_bench("bench two words failed: x"), None);
        assert_eq!(failed_bench("the bench failed: x"), None);
    }

    #[test]
    fn duplicates_are_refused_and_order_is_kept() {
        let lines: Vec<String> = ["bench: b 2 1", "noise", "bench: a 1 1"]
            .map(String::from)
            .into();
        let names: Vec<_> = collect(&lines)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["b", "a"]);
        let twice: Vec<String> = ["bench: a 1 1", "bench: a 2 1"].map(String::from).into();
        assert!(collect(&twice).is_err());
    }

    #[test]
    fn the_report_holds_results_date_and_commit() {
        let results = vec![BenchResult {
            name: "ipc_call".into(),
            instructions_per_op: "412".parse().unwrap(),
            iterations: 10,
        }];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let report = report(&results, root);
        assert_eq!(report["benchmarks"]["ipc_call"]["instructions_per_op"], 412);
        assert_eq!(report["benchmarks"]["ipc_call"]["iterations"], 10);
        assert!(report["date"].as_str().unwrap().ends_with('Z'));
        assert!(report["commit"].is_string());
    }
}
