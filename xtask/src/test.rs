//! `cargo xtask test`: lints (rustfmt, clippy with warnings denied), host tests, loom tests,
//! kernel tests in QEMU, then user tests (on 1 and 4 CPUs) and a short fuzz campaign, ending
//! with exactly one line `N passed, N failed` that adds them all up.
//!
//! Guarantees: every stage runs even when an earlier one failed, and a stage that cannot run
//! (a build error, QEMU missing) counts as a failure rather than as zero tests; the command
//! exits non-zero whenever anything failed. Each QEMU boot is logged under
//! `target/tessera/logs/<boot>.log`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::build::{self, Profile};
use crate::capture;
use crate::fuzz;
use crate::install::ensure_qemu;
use crate::ktest::{judge_all, judge_should_panic, judge_user, Judgement};
use crate::paste_test;
use crate::qemu::{self, Boot};
use crate::results::{cargo_result, Counts};
use crate::shell_test;
use crate::symbolize::Symbolizer;
use crate::trace;
use crate::workspace::{cargo, Workspace};
use crate::Reported;

/// The program init starts under `test=user`; it ends with `usertests: N passed, N failed`.
const USER_SUITE: &str = "usertests";

/// The user suite runs once on one CPU and once on four: what crosses rings is tested both
/// without and with other CPUs running at the same time.
const USER_SUITE_CPUS: [u32; 2] = [1, 4];

/// The fuzz campaign of every test run: fixed, so a failure replays; short enough for well
/// under a minute of TCG on two host cores.
const FUZZ_CAMPAIGN: fuzz::Campaign = fuzz::Campaign {
    profile: Profile::Debug,
    cpus: 4,
    seed: 7,
    count: 5_000,
    limit: Some(Duration::from_secs(90)),
};

/// Longest a kernel test boot may take under TCG before it is called hung.
const BOOT_LIMIT: Duration = Duration::from_secs(120);

pub fn run() -> Result<()> {
    let ws = Workspace::load()?;
    let mut total = Judgement::default();
    banner("lints: cargo fmt --check, cargo clippy -D warnings (host and freestanding)");
    stage(&mut total, "lints", crate::lints::run(&ws));
    stage(&mut total, "host tests", host_tests(&ws));
    stage(
        &mut total,
        "core checks in a debug build",
        debug_core_tests(&ws),
    );
    stage(&mut total, "loom tests", loom_tests(&ws));
    stage(&mut total, "kernel tests", kernel_tests(&ws));
    if !total.problems.is_empty() {
        println!("\nfailures:");
        for problem in &total.problems {
            println!("    {problem}");
        }
    }
    println!(
        "{} passed, {} failed",
        total.counts.passed, total.counts.failed
    );
    if total.counts.failed > 0 {
        return Err(Reported.into());
    }
    Ok(())
}

fn stage(total: &mut Judgement, name: &str, result: Result<Judgement>) {
    match result {
        Ok(judgement) => total.absorb(judgement),
        Err(e) => {
            if !e.is::<Reported>() {
                eprintln!("error: {name}: {e:#}");
            }
            total.counts.failed += 1;
            total.problems.push(format!("{name} could not run: {e:#}"));
        }
    }
}

fn banner(text: &str) {
    println!("\n==> {text}");
}

fn host_tests(ws: &Workspace) -> Result<Judgement> {
    banner("host tests: cargo test --release (the workspace's default members)");
    let mut command = cargo(&ws.root);
    command.args(["test", "--release"]);
    cargo_tests("host tests", command)
}

/// The core and the simulator again, in a debug build: the core's lock-discipline assertions
/// (an object reached only under its protocol lock, `kernel/core/src/table.rs`) are debug
/// assertions, which the release run above compiles out. Fewer simulator seeds keep it quick.
fn debug_core_tests(ws: &Workspace) -> Result<Judgement> {
    banner("core checks in a debug build: cargo test -p tessera-core -p tessera-sim (1,000 seeds)");
    let mut command = cargo(&ws.root);
    command
        .args(["test", "-p", "tessera-core", "-p", "tessera-sim"])
        .env("TESSERA_SIM_SEEDS", "1000");
    cargo_tests("core checks in a debug build", command)
}

fn loom_tests(ws: &Workspace) -> Result<Judgement> {
    if !ws.root.join("kernel/core/tests/loom.rs").is_file() {
        banner("loom tests: skipped (kernel/core/tests/loom.rs does not exist)");
        return Ok(Judgement::default());
    }
    banner("loom tests: cargo test -p tessera-core -p tessera-runtime --test loom with --cfg loom");
    let mut command = cargo(&ws.root);
    command
        .args([
            "test",
            "-p",
            "tessera-core",
            "-p",
            "tessera-runtime",
            "--release",
            "--test",
            "loom",
            "--target-dir",
        ])
        .arg(ws.target_dir.join("loom"))
        .env("RUSTFLAGS", "--cfg loom")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    cargo_tests("loom tests", command)
}

/// Runs a `cargo test` command, echoing its output and adding up its `test result:` lines.
fn cargo_tests(name: &str, mut command: Command) -> Result<Judgement> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .context("could not run cargo test")?;
    let stdout = child
        .stdout
        .take()
        .context("cargo test's stdout was not captured")?;
    let mut judgement = Judgement::default();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("could not read cargo test's output")?;
        println!("{line}");
        if let Some(Counts { passed, failed }) = cargo_result(&line) {
            judgement.counts.passed += passed;
            judgement.counts.failed += failed;
        }
    }
    let status = child.wait().context("could not wait for cargo test")?;
    if judgement.counts.failed > 0 {
        judgement.problems.push(format!(
            "{name}: {} failed (see above)",
            judgement.counts.failed
        ));
    } else if !status.success() {
        judgement.counts.failed += 1;
        judgement.problems.push(format!(
            "{name}: cargo test failed ({status}) with no test failing"
        ));
    }
    Ok(judgement)
}

/// More CPUs than the kernel supports (the core's `MAX_CPUS`, 8): the kernel tests run on the
/// supported ones and the kernel says it leaves the rest offline. Until both sides shared one
/// limit, CPUs past the core's ran as a second CPU 0.
const CPU_LIMIT_BOOT: u32 = 9;

fn cpu_limit(
    ws: &Workspace,
    boot: &mut Boot,
    symbolizer: Option<&Symbolizer>,
) -> Result<Judgement> {
    banner(&format!(
        "CPU limit: boot {CPU_LIMIT_BOOT} CPUs with test=all; the ones past the kernel's limit stay offline"
    ));
    boot.smp = CPU_LIMIT_BOOT;
    boot.append = Some("test=all".into());
    let name = "ktest-cpu-limit";
    let capture = capture::boot(ws, boot, name, symbolizer, BOOT_LIMIT)?;
    boot.smp = 2;
    let mut judgement = judge_all(name, &capture.log, &capture.lines, capture.exit);
    judgement.should_panic.clear();
    let said = capture
        .lines
        .iter()
        .any(|l| l.contains("more CPUs than the kernel supports (8): they stay offline"));
    let online = capture
        .lines
        .iter()
        .any(|l| l.contains("8 of 8 CPUs online"));
    if said && online {
        println!("cpu-limit: the ninth CPU stays offline ... ok");
        judgement.counts.passed += 1;
    } else {
        println!("cpu-limit: the ninth CPU stays offline ... FAILED");
        judgement.counts.failed += 1;
        judgement.problems.push(format!(
            "{name}: no offline warning or not 8 of 8 CPUs online (log: {})",
            capture.log.display()
        ));
    }
    Ok(judgement)
}

fn kernel_tests(ws: &Workspace) -> Result<Judgement> {
    banner("kernel tests: build the kernel, boot it with test=all on 2 CPUs");
    ensure_qemu()?;
    let artifacts = build::build(ws, Profile::Debug)?;
    let symbolizer = qemu::load_symbolizer(ws, &artifacts.kernel);
    let mut boot = Boot::new(&artifacts);
    boot.smp = 2;
    boot.append = Some("test=all".into());
    let name = "ktest-all";
    let capture = capture::boot(ws, &boot, name, symbolizer.as_ref(), BOOT_LIMIT)?;
    let mut total = judge_all(name, &capture.log, &capture.lines, capture.exit);
    for test in std::mem::take(&mut total.should_panic) {
        let name = format!("ktest-{test}");
        banner(&format!(
            "kernel test {test}: must panic; boot {name} with test={test}"
        ));
        boot.append = Some(format!("test={test}"));
        let capture = capture::boot(ws, &boot, &name, symbolizer.as_ref(), BOOT_LIMIT)?;
        total.absorb(judge_should_panic(
            &test,
            &name,
            &capture.log,
            &capture.lines,
            capture.exit,
        ));
    }
    total.absorb(cpu_limit(ws, &mut boot, symbolizer.as_ref())?);
    let has_suite = ws
        .programs
        .iter()
        .any(|p| p.bins.iter().any(|b| b == USER_SUITE));
    if !has_suite {
        banner(&format!(
            "user tests: skipped (no `{USER_SUITE}` program under user/)"
        ));
    } else {
        for cpus in USER_SUITE_CPUS {
            banner(&format!(
                "user tests: boot with test=user on {cpus} CPU(s); init runs `{USER_SUITE}`"
            ));
            let name = format!("user-tests-{cpus}cpu");
            boot.smp = cpus;
            boot.append = Some("test=user".into());
            let capture = capture::boot(ws, &boot, &name, symbolizer.as_ref(), BOOT_LIMIT)?;
            total.absorb(judge_user(
                &name,
                &capture.log,
                &capture.lines,
                capture.exit,
            ));
        }
    }
    if ws
        .programs
        .iter()
        .any(|p| p.bins.iter().any(|b| b == "fuzz"))
    {
        banner(&format!(
            "fuzz: a short campaign on {} CPUs, seed {}, {} invocations",
            FUZZ_CAMPAIGN.cpus, FUZZ_CAMPAIGN.seed, FUZZ_CAMPAIGN.count
        ));
        let artifacts = build::Artifacts {
            kernel: boot.kernel.clone(),
            bootfs: boot.initrd.clone(),
        };
        total.absorb(fuzz::campaign(
            ws,
            &artifacts,
            &FUZZ_CAMPAIGN,
            "fuzz-short",
        )?);
    }
    if ws
        .programs
        .iter()
        .any(|p| p.bins.iter().any(|b| b == "shell"))
    {
        banner("shell: boot normally on 2 CPUs, type help, ps and shutdown into COM1");
        let name = "shell";
        boot.smp = 2;
        boot.append = None;
        let capture = capture::scripted(
            ws,
            &boot,
            name,
            symbolizer.as_ref(),
            BOOT_LIMIT,
            shell_test::SCRIPT,
        )?;
        total.absorb(shell_test::judge(
            name,
            &capture.log,
            &capture.lines,
            capture.exit,
        ));
        for cpus in PASTE_CPUS {
            banner(&format!("paste: boot on {cpus} CPU(s), paste a 64 KiB script into COM1, check every line's answer"));
            let name = format!("paste-{cpus}cpu");
            boot.smp = cpus;
            let script = paste_test::script();
            let capture =
                capture::scripted(ws, &boot, &name, symbolizer.as_ref(), BOOT_LIMIT, &script)?;
            total.absorb(paste_test::judge(
                &name,
                &capture.log,
                &capture.lines,
                capture.exit,
            ));
        }
        total.absorb(profile_test(ws));
        // Last: it rebuilds the kernel with tracing, which the boots above must not run.
        total.absorb(trace_tests(ws)?);
    }
    Ok(total)
}

/// The benchmark `profile_test` profiles: the bench program's first, so the boot is short.
const PROFILED: &str = "null_invocation";

/// `cargo xtask profile` on the debug build: its total must be the figure the same boot
/// printed for the benchmark (without the fraction the timer interrupts add).
fn profile_test(ws: &Workspace) -> Judgement {
    banner(&format!(
        "profile: single-step one {PROFILED} in a bench boot; its total must be the bench's figure"
    ));
    let mut judgement = Judgement::default();
    match crate::profile::profile(ws, Profile::Debug, PROFILED).and_then(|o| {
        o.agrees()?;
        Ok(o)
    }) {
        Ok(o) => {
            println!(
                "profile: {PROFILED}: {} instructions, the figure {}.{} ... ok",
                o.total,
                o.figure_tenths.unwrap_or(0) / 10,
                o.figure_tenths.unwrap_or(0) % 10
            );
            judgement.counts.passed += 1;
        }
        Err(e) => {
            println!("profile: {PROFILED} ... FAILED: {e:#}");
            judgement.counts.failed += 1;
            judgement
                .problems
                .push(format!("profile-{PROFILED}: {e:#}"));
        }
    }
    judgement
}

/// The workload traced by `trace_tests`: the shell's `ps` CALLs the console server for every
/// line and kernel objects for every process.
const TRACE_WORKLOAD: &str = "ps";
const TRACE_CPUS: [u32; 2] = [1, 4];
const PASTE_CPUS: [u32; 2] = [1, 4];

/// `cargo xtask trace` on a known workload, its JSON read back and checked (`trace/check.rs`),
/// on 1 and 4 CPUs; the trace must hold answered CALLs and context switches.
fn trace_tests(ws: &Workspace) -> Result<Judgement> {
    let artifacts = build::build_with(ws, Profile::Debug, &[trace::FEATURE])?;
    let mut judgement = Judgement::default();
    for cpus in TRACE_CPUS {
        banner(&format!("trace: a kernel built with tracing on {cpus} CPU(s); trace `{TRACE_WORKLOAD}` and check the JSON"));
        let name = format!("trace-{cpus}cpu");
        let verdict = trace::record(ws, &artifacts, cpus, TRACE_WORKLOAD, &name, BOOT_LIMIT)
            .and_then(|t| {
                if t.checked.calls_answered == 0 || t.checked.switches == 0 {
                    anyhow::bail!(
                        "{} holds no answered CALL or no context switch: {:?}",
                        t.json.display(),
                        t.checked
                    );
                }
                Ok(t)
            });
        match verdict {
            Ok(t) => {
                println!(
                    "trace: {cpus} CPU(s): every CALL has its RETURN ({}), time never goes back, {} switches alternate ... ok",
                    t.checked.calls_answered, t.checked.switches
                );
                judgement.counts.passed += 1;
            }
            Err(e) => {
                println!("trace: {cpus} CPU(s) ... FAILED: {e:#}");
                judgement.counts.failed += 1;
                judgement.problems.push(format!("{name}: {e:#}"));
            }
        }
    }
    Ok(judgement)
}
