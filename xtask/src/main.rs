//! `cargo xtask`: the one build tool of Tessera. This file parses the command line and
//! dispatches; each command lives in its own module.
//!
//! Guarantees: every failure ends the process with a non-zero exit code and a message on
//! stderr; a command that already reported its own failure returns [`Reported`] so the message
//! is not printed twice. Arguments after `--` (for `run`) go to QEMU untouched.
#![forbid(unsafe_code)]

mod bench;
mod bench_chart;
mod bootfs;
mod build;
mod capture;
mod console;
mod fuzz;
mod gdb;
mod install;
mod ktest;
mod lints;
mod paste_test;
mod profile;
mod qemu;
mod results;
mod shell_test;
mod symbolize;
mod test;
mod trace;
mod workspace;

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::build::Profile;

const HELP: &str = "\
cargo xtask: build, run, test, trace and bench the Tessera kernel

USAGE:
    cargo xtask <COMMAND> [OPTIONS]

COMMANDS:
    build      build the user programs and the kernel
    run        build, then boot the kernel in QEMU on this terminal (Ctrl-A X quits)
    test       every test: host, loom, kernel and user tests in QEMU; ends `N passed, N failed`
    fuzz       one campaign of the hostile-program fuzzer; on failure, the command that replays it
    bench      boot under -icount and record the benchmarks in target/tessera/bench.json
    profile    single-step one operation of a benchmark: target/tessera/profile/<name>.md
    trace      trace a shell command line into target/tessera/trace.json (Perfetto) and trace.svg
    gdb        QEMU halted with its gdb stub, gdb attached; tessera-stop-in NAME stops in a program
    symbolize  annotate kernel addresses in a log read from stdin

OPTIONS:
    build [--release]
    run [--smp N] [--release] [--gdb] [-- QEMU ARGS...]   (--gdb: QEMU halted, gdb stub on :1234)
    fuzz [--cpus N] [--seed S] [--count C] [--release] [--limit SECS]
                               (default: 4 CPUs, seed 1, 100000 invocations)
    bench [--scaling]          (--scaling: 4 CPUs without -icount, SMP throughput as ratios
                               measured in one run)
    profile <BENCHMARK> | --list   (release, 1 CPU, -icount; --list or no name: the profilable ones)
    trace [--smp N] [--release] [WORKLOAD...]   (default workload `test`: the user suite)
    gdb [--smp N] [--release]
    symbolize [--release]
    --release                  the release profile (default: debug; test and bench choose their own)
    --smp N                    CPUs for QEMU (default: 1)
    -h, --help                 print this help
";

/// A command that already printed why it failed; `main` only sets the exit code.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failure already reported")
    }
}

impl std::error::Error for Reported {}

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    Build {
        profile: Profile,
    },
    Run(RunOptions),
    Test,
    Fuzz(fuzz::Campaign),
    /// The benchmarks, or with `scaling` the SMP scaling ones.
    Bench {
        scaling: bool,
    },
    Symbolize {
        profile: Profile,
    },
    Profile(profile::ProfileOptions),
    Trace(trace::TraceOptions),
    Gdb(gdb::GdbOptions),
}

/// Options of `cargo xtask run`.
#[derive(Debug, PartialEq, Eq)]
pub struct RunOptions {
    pub profile: Profile,
    pub smp: u32,
    pub gdb: bool,
    pub qemu_args: Vec<OsString>,
}

fn main() -> ExitCode {
    let result = parse_args(std::env::args_os().skip(1).collect()).and_then(dispatch);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Reported>() => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Help => {
            print!("{HELP}");
            Ok(())
        }
        Command::Build { profile } => {
            let ws = workspace::Workspace::load()?;
            build::build(&ws, profile).map(|_| ())
        }
        Command::Run(options) => qemu::run(&options),
        Command::Test => test::run(),
        Command::Fuzz(campaign) => fuzz::run(&campaign),
        Command::Bench { scaling: false } => bench::run(),
        Command::Bench { scaling: true } => bench::run_scaling(),
        Command::Symbolize { profile } => symbolize::filter_stdin(profile),
        Command::Profile(options) => profile::run(&options),
        Command::Trace(options) => trace::run(&options),
        Command::Gdb(options) => gdb::run(&options),
    }
}

/// The value of option `name`, a decimal number from `min` to `max`.
fn number(parser: &mut lexopt::Parser, name: &str, min: u64, max: u64) -> Result<u64> {
    let value = parser.value()?;
    let text = value.to_string_lossy();
    text.parse()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .with_context(|| format!("{name} takes a number from {min} to {max}, not `{text}`"))
}

/// Parses everything after `cargo xtask`. Arguments after the first `--` are QEMU's.
fn parse_args(mut args: Vec<OsString>) -> Result<Command> {
    let split = args.iter().position(|a| a == "--");
    let qemu_args = match split {
        Some(at) => {
            let rest = args.split_off(at + 1);
            args.pop();
            rest
        }
        None => Vec::new(),
    };
    let mut parser = lexopt::Parser::from_args(args);
    let mut name: Option<String> = None;
    let mut profile = Profile::Debug;
    let mut smp: Option<u32> = None;
    let mut gdb = false;
    let mut scaling = false;
    let mut list = false;
    let mut fuzz_options = false;
    let mut words: Vec<String> = Vec::new();
    let mut campaign = fuzz::Campaign {
        profile: Profile::Debug,
        cpus: 4,
        seed: 1,
        count: 100_000,
        limit: None,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => return Ok(Command::Help),
            lexopt::Arg::Long("release") => profile = Profile::Release,
            lexopt::Arg::Long("gdb") => gdb = true,
            lexopt::Arg::Long("scaling") => scaling = true,
            lexopt::Arg::Long("list") => list = true,
            lexopt::Arg::Long("smp") => {
                let value = parser.value()?;
                let text = value.to_string_lossy();
                let n: u32 = text
                    .parse()
                    .ok()
                    .filter(|n| (1..=255).contains(n))
                    .with_context(|| {
                        format!("--smp takes a CPU count from 1 to 255, not `{text}`")
                    })?;
                smp = Some(n);
            }
            lexopt::Arg::Long("cpus") => {
                fuzz_options = true;
                campaign.cpus = number(&mut parser, "--cpus", 1, 15)? as u32;
            }
            lexopt::Arg::Long("seed") => {
                fuzz_options = true;
                campaign.seed = number(&mut parser, "--seed", 0, u32::MAX as u64)? as u32;
            }
            lexopt::Arg::Long("count") => {
                fuzz_options = true;
                campaign.count = number(&mut parser, "--count", 1, fuzz::MAX_COUNT)?;
            }
            lexopt::Arg::Long("limit") => {
                fuzz_options = true;
                let secs = number(&mut parser, "--limit", 1, 7 * 24 * 3600)?;
                campaign.limit = Some(std::time::Duration::from_secs(secs));
            }
            lexopt::Arg::Value(value) if name.is_none() => {
                name = Some(value.into_string().map_err(|v| {
                    anyhow::anyhow!("command `{}` is not valid UTF-8", v.to_string_lossy())
                })?);
            }
            lexopt::Arg::Value(value) if name.as_deref() == Some("profile") && words.is_empty() => {
                words.push(value.to_string_lossy().into_owned());
            }
            lexopt::Arg::Value(value) if name.as_deref() == Some("trace") => {
                words.push(value.to_string_lossy().into_owned());
            }
            other => return Err(other.unexpected().into()),
        }
    }
    let Some(name) = name else {
        return Ok(Command::Help);
    };
    let is_run = name == "run";
    let takes_smp = matches!(name.as_str(), "trace" | "gdb");
    if takes_smp && (gdb || split.is_some()) {
        bail!("--gdb and `-- QEMU ARGS` are options of `run`, not of `{name}`");
    }
    if !is_run && !takes_smp && (smp.is_some() || gdb || split.is_some()) {
        bail!("--smp, --gdb and `-- QEMU ARGS` are options of `run`, not of `{name}`");
    }
    if scaling && name != "bench" {
        bail!("--scaling is an option of `bench`, not of `{name}`");
    }
    if list && name != "profile" {
        bail!("--list is an option of `profile`, not of `{name}`");
    }
    if fuzz_options && name != "fuzz" {
        bail!("--cpus, --seed, --count and --limit are options of `fuzz`, not of `{name}`");
    }
    if profile == Profile::Release && matches!(name.as_str(), "test" | "bench" | "profile" | "help")
    {
        bail!("`{name}` takes no --release (test uses the debug kernel, bench the release one)");
    }
    Ok(match name.as_str() {
        "help" => Command::Help,
        "build" => Command::Build { profile },
        "run" => Command::Run(RunOptions {
            profile,
            smp: smp.unwrap_or(1),
            gdb,
            qemu_args,
        }),
        "test" => Command::Test,
        "fuzz" => Command::Fuzz(fuzz::Campaign {
            profile,
            ..campaign
        }),
        "bench" => Command::Bench { scaling },
        "symbolize" => Command::Symbolize { profile },
        "profile" => Command::Profile(match (list, words.pop()) {
            (_, None) => profile::ProfileOptions::List,
            (false, Some(name)) => profile::ProfileOptions::Case { name },
            (true, Some(_)) => bail!("`profile` takes one benchmark name, or --list"),
        }),
        "gdb" => Command::Gdb(gdb::GdbOptions {
            profile,
            smp: smp.unwrap_or(1),
        }),
        "trace" => Command::Trace(trace::TraceOptions {
            profile,
            smp: smp.unwrap_or(1),
            workload: if words.is_empty() {
                trace::DEFAULT_WORKLOAD.to_string()
            } else {
                words.join(" ")
            },
        }),
        other => bail!("unknown command `{other}`; `cargo xtask --help` lists the commands"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command> {
        parse_args(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn no_command_or_help_flag_prints_help() {
        assert_eq!(parse(&[]).unwrap(), Command::Help);
        assert_eq!(parse(&["--help"]).unwrap(), Command::Help);
        assert_eq!(parse(&["run", "-h"]).unwrap(), Command::Help);
        assert_eq!(parse(&["help"]).unwrap(), Command::Help);
    }

    #[test]
    fn build_takes_release() {
        assert_eq!(
            parse(&["build"]).unwrap(),
            Command::Build {
                profile: Profile::Debug
            }
        );
        assert_eq!(
            parse(&["build", "--release"]).unwrap(),
            Command::Build {
                profile: Profile::Release
            }
        );
    }

    #[test]
    fn run_defaults_to_one_cpu_debug_no_gdb() {
        let expected = RunOptions {
            profile: Profile::Debug,
            smp: 1,
            gdb: false,
            qemu_args: vec![],
        };
        assert_eq!(parse(&["run"]).unwrap(), Command::Run(expected));
    }

    #[test]
    fn run_takes_all_options_in_any_order_and_qemu_args_after_dashes() {
        let got = parse(&[
            "run",
            "--gdb",
            "--smp",
            "4",
            "--release",
            "--",
            "-d",
            "int",
            "--smp",
        ]);
        let expected = RunOptions {
            profile: Profile::Release,
            smp: 4,
            gdb: true,
            qemu_args: ["-d", "int", "--smp"].iter().map(OsString::from).collect(),
        };
        assert_eq!(got.unwrap(), Command::Run(expected));
        let eq_form = parse(&["run", "--smp=2"]).unwrap();
        assert!(matches!(eq_form, Command::Run(RunOptions { smp: 2, .. })));
    }

    #[test]
    fn bad_smp_values_are_refused() {
        for bad in ["0", "256", "-1", "two", ""] {
            assert!(
                parse(&["run", "--smp", bad]).is_err(),
                "--smp {bad:?} accepted"
            );
        }
        assert!(
            parse(&["run", "--smp"]).is_err(),
            "--smp without a value accepted"
        );
    }

    #[test]
    fn run_only_options_are_refused_elsewhere() {
        assert!(parse(&["build", "--smp", "2"]).is_err());
        assert!(parse(&["test", "--gdb"]).is_err());
        assert!(parse(&["bench", "--", "-d", "int"]).is_err());
        assert!(parse(&["test", "--release"]).is_err());
    }

    #[test]
    fn unknown_commands_flags_and_extra_words_are_refused() {
        assert!(parse(&["frobnicate"]).is_err());
        assert!(parse(&["build", "--fast"]).is_err());
        assert!(parse(&["build", "kernel"]).is_err());
        assert!(parse(&["-x"]).is_err());
    }

    #[test]
    fn fuzz_takes_its_options_and_only_it() {
        let got = parse(&[
            "fuzz",
            "--cpus",
            "2",
            "--seed",
            "77",
            "--count",
            "5000",
            "--release",
            "--limit",
            "60",
        ]);
        let expected = fuzz::Campaign {
            profile: Profile::Release,
            cpus: 2,
            seed: 77,
            count: 5000,
            limit: Some(std::time::Duration::from_secs(60)),
        };
        assert_eq!(got.unwrap(), Command::Fuzz(expected));
        let defaults = parse(&["fuzz"]).unwrap();
        assert!(matches!(
            defaults,
            Command::Fuzz(fuzz::Campaign {
                cpus: 4,
                seed: 1,
                count: 100_000,
                ..
            })
        ));
        assert!(parse(&["fuzz", "--count", "0"]).is_err());
        assert!(parse(&["fuzz", "--count", "67108864"]).is_err());
        assert!(parse(&["fuzz", "--seed", "4294967296"]).is_err());
        assert!(parse(&["fuzz", "--cpus", "16"]).is_err());
        assert!(parse(&["test", "--seed", "1"]).is_err());
        assert!(parse(&["run", "--count", "1"]).is_err());
    }

    #[test]
    fn trace_takes_smp_release_and_a_workload() {
        let got = parse(&["trace", "--smp", "4", "--release", "echo", "hi"]).unwrap();
        let expected = trace::TraceOptions {
            profile: Profile::Release,
            smp: 4,
            workload: "echo hi".into(),
        };
        assert_eq!(got, Command::Trace(expected));
        assert!(
            matches!(parse(&["trace"]).unwrap(), Command::Trace(trace::TraceOptions { smp: 1, ref workload, .. }) if workload == "test")
        );
        assert!(parse(&["trace", "--gdb"]).is_err());
        assert_eq!(
            parse(&["gdb", "--smp", "2"]).unwrap(),
            Command::Gdb(gdb::GdbOptions {
                profile: Profile::Debug,
                smp: 2
            })
        );
    }

    #[test]
    fn profile_takes_one_benchmark_or_lists() {
        assert_eq!(
            parse(&["profile", "call_reply"]).unwrap(),
            Command::Profile(profile::ProfileOptions::Case {
                name: "call_reply".into()
            })
        );
        assert_eq!(
            parse(&["profile", "--list"]).unwrap(),
            Command::Profile(profile::ProfileOptions::List)
        );
        assert!(parse(&["profile", "a", "b"]).is_err());
        assert!(parse(&["profile", "--list", "a"]).is_err());
        assert!(parse(&["profile", "a", "--release"]).is_err());
        assert!(parse(&["bench", "--list"]).is_err());
    }

    #[test]
    fn help_lists_every_command_on_one_line() {
        let commands = HELP
            .split("COMMANDS:")
            .nth(1)
            .and_then(|s| s.split("OPTIONS:").next())
            .unwrap();
        let names: Vec<&str> = commands
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(
            names,
            [
                "build",
                "run",
                "test",
                "fuzz",
                "bench",
                "profile",
                "trace",
                "gdb",
                "symbolize"
            ]
        );
        for name in names {
            assert!(
                !matches!(parse(&[name]), Ok(Command::Help) | Err(_)),
                "{name} is listed but not parsed"
            );
        }
    }

    #[test]
    fn other_commands_parse() {
        assert_eq!(parse(&["test"]).unwrap(), Command::Test);
        assert_eq!(
            parse(&["bench"]).unwrap(),
            Command::Bench { scaling: false }
        );
        assert_eq!(
            parse(&["bench", "--scaling"]).unwrap(),
            Command::Bench { scaling: true }
        );
        assert!(parse(&["run", "--scaling"]).is_err());
        assert_eq!(
            parse(&["symbolize", "--release"]).unwrap(),
            Command::Symbolize {
                profile: Profile::Release
            }
        );
    }
}
