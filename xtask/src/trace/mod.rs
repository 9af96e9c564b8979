//! `cargo xtask trace [--smp N] [--release] [WORKLOAD...]`: boots a kernel built with tracing,
//! types `trace start`, the workload (a shell command line: `test` for the user suite, `bench`
//! for the benchmarks, or any other; default `test`) and `trace stop` into the shell, reads the
//! rings the kernel writes to COM2 (a file, so the console is untouched), and writes
//! `target/tessera/trace.json` (Chrome trace-event JSON: Perfetto opens it) and
//! `target/tessera/trace.svg` (a timeline any browser shows offline).
//!
//! Guarantees: the outputs are written only from a boot that ended in the kernel's success
//! code with a complete dump; the JSON is read back and checked (`check.rs`) before the command
//! succeeds.

mod check;
mod chrome;
mod dump;
mod svg;
mod timeline;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::build::{self, Artifacts, Profile};
use crate::capture::{self, Step};
use crate::install::ensure_qemu;
use crate::qemu::{self, Boot, Exit};
use crate::workspace::Workspace;

pub use check::Checked;

/// The workload when none is given: the user-level test suite.
pub const DEFAULT_WORKLOAD: &str = "test";
/// The cargo feature of the kernel that builds tracing in.
pub const FEATURE: &str = "trace";
const PROMPT: &str = "tessera> ";
const STARTED: &str = "tracing on";
const STOPPED: &str = "events written to COM2";
const LIMIT: Duration = Duration::from_secs(600);

#[derive(Debug, PartialEq, Eq)]
pub struct TraceOptions {
    pub profile: Profile,
    pub smp: u32,
    pub workload: String,
}

/// What one traced boot produced.
#[derive(Debug)]
pub struct Traced {
    pub json: PathBuf,
    pub svg: PathBuf,
    pub checked: Checked,
    pub lost: u64,
}

pub fn run(o: &TraceOptions) -> Result<()> {
    let ws = Workspace::load()?;
    ensure_qemu()?;
    let artifacts = build::build_with(&ws, o.profile, &[FEATURE])?;
    let t = record(&ws, &artifacts, o.smp, &o.workload, "trace", LIMIT)?;
    println!(
        "\ntrace of `{}` on {} CPU(s): {} events, {} CALLs answered, {} context switches{}",
        o.workload,
        o.smp,
        t.checked.events,
        t.checked.calls_answered,
        t.checked.switches,
        if t.lost > 0 {
            format!("; {} events lost to full rings", t.lost)
        } else {
            String::new()
        }
    );
    println!(
        "wrote {} (open it at https://ui.perfetto.dev)",
        t.json.display()
    );
    println!("wrote {} (open it in any browser)", t.svg.display());
    Ok(())
}

/// Boots `artifacts` (a kernel built with tracing) on `smp` CPUs, traces `workload` typed
/// into the shell, and writes and checks `<name>.json` and `<name>.svg`.
pub fn record(
    ws: &Workspace,
    artifacts: &Artifacts,
    smp: u32,
    workload: &str,
    name: &str,
    limit: Duration,
) -> Result<Traced> {
    let dir = ws.tessera_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let port = dir.join(format!("{name}.com2"));
    let _ = std::fs::remove_file(&port);
    let mut boot = Boot::new(artifacts);
    boot.smp = smp;
    boot.extra = vec!["-serial".into(), format!("file:{}", port.display()).into()];
    // The workload is typed once tracing is on, so its keystrokes' IRQs are in the trace; the
    // shell reads typed-ahead lines one after another, so `trace stop` can follow at once.
    let session: &'static str = Box::leak(format!("{workload}\rtrace stop\r").into_boxed_str());
    let script = [
        Step {
            wait_for: PROMPT,
            send: "trace start\r",
        },
        Step {
            wait_for: STARTED,
            send: session,
        },
        Step {
            wait_for: STOPPED,
            send: "shutdown\r",
        },
    ];
    let symbolizer = qemu::load_symbolizer(ws, &boot.kernel);
    let capture = capture::scripted(ws, &boot, name, symbolizer.as_ref(), limit, &script)?;
    if capture.exit != Exit::Success {
        bail!(
            "the traced boot did not succeed: {} (log: {})",
            capture.exit,
            capture.log.display()
        );
    }
    let bytes = std::fs::read(&port)
        .with_context(|| format!("could not read the trace port's file {}", port.display()))?;
    let dump = dump::parse(&bytes)?;
    let timeline = timeline::build(&dump);
    let json_text = serde_json::to_string(&chrome::render(&timeline))?;
    let json = dir.join(format!("{name}.json"));
    std::fs::write(&json, &json_text)
        .with_context(|| format!("could not write {}", json.display()))?;
    let svg = dir.join(format!("{name}.svg"));
    std::fs::write(&svg, svg::render(&timeline))
        .with_context(|| format!("could not write {}", svg.display()))?;
    let checked = check::check(&std::fs::read_to_string(&json)?)
        .with_context(|| format!("{} fails its checks", json.display()))?;
    Ok(Traced {
        json,
        svg,
        checked,
        lost: timeline.lost,
    })
}
