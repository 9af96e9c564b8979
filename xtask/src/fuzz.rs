//! `cargo xtask fuzz`: one campaign of the hostile-program fuzzer (`user/fuzz`), booted with
//! `test=fuzz seed=S count=C`; and the short fixed-seed campaign `cargo xtask test` runs.
//!
//! Guarantees: a campaign passes only if the fuzzer printed its final line with `pass`, the
//! kernel exited with the success code, and no kernel panic was printed; anything else (a
//! panic, a hang past the time limit, a failed check) fails it, and the command then prints
//! the exact command that replays the seed. A campaign silent for [`QUIET`] is judged hung, and
//! each CPU's RIP (symbolized) and ring are printed from QEMU's monitor before it is killed.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::build::{self, Profile};
use crate::capture;
use crate::install::ensure_qemu;
use crate::ktest::Judgement;
use crate::qemu::{self, Boot, Exit};
use crate::workspace::Workspace;
use crate::Reported;

/// Options of `cargo xtask fuzz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    pub profile: Profile,
    pub cpus: u32,
    pub seed: u32,
    pub count: u64,
    /// Wall-clock limit; `None`: a default from the count.
    pub limit: Option<Duration>,
}

/// The fuzzer prints a progress line at least every 200,000 invocations; a guest silent this
/// long has hung (a kernel spinning on a lock prints nothing), whatever the overall limit.
const QUIET: Duration = Duration::from_secs(120);

/// The largest count the kernel passes on (`abi::boot::FuzzArg::MAX_COUNT`).
pub const MAX_COUNT: u64 = (1 << 26) - 1;

impl Campaign {
    fn append(&self) -> String {
        format!("test=fuzz seed={} count={}", self.seed, self.count)
    }

    /// Under TCG on a small host a debug kernel makes some 5,000 invocations a second across
    /// four CPUs; the default limit allows a fifth of that, plus the boot.
    fn time_limit(&self) -> Duration {
        self.limit
            .unwrap_or(Duration::from_secs(120 + self.count / 1000))
    }

    /// The command that runs this campaign again.
    pub fn replay(&self) -> String {
        format!(
            "cargo xtask fuzz --cpus {} --seed {} --count {}{}",
            self.cpus,
            self.seed,
            self.count,
            if self.profile == Profile::Release {
                " --release"
            } else {
                ""
            }
        )
    }
}

/// What the fuzzer's final line says: `fuzz: seed S: N invocations, P posts checked: pass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub seed: u32,
    pub invocations: u64,
    pub posts: u64,
    pub pass: bool,
}

pub fn final_line(line: &str) -> Option<Figures> {
    let rest = line.trim().strip_prefix("fuzz: seed ")?;
    let (seed, rest) = rest.split_once(": ")?;
    let (invocations, rest) = rest.split_once(" invocations, ")?;
    let (posts, verdict) = rest.split_once(" posts checked: ")?;
    let pass = match verdict {
        "pass" => true,
        "FAIL" => false,
        _ => return None,
    };
    Some(Figures {
        seed: seed.parse().ok()?,
        invocations: invocations.parse().ok()?,
        posts: posts.parse().ok()?,
        pass,
    })
}

/// Judges one campaign's boot: one test, passed or failed.
pub fn judge(boot: &str, log: &Path, lines: &[String], exit: Exit) -> (Judgement, Option<Figures>) {
    let mut judgement = Judgement::default();
    let figures = lines.iter().rev().find_map(|l| final_line(l));
    let panicked = lines
        .iter()
        .any(|l| l.contains("KERNEL PANIC") || l.contains("panicked at"));
    let mut reasons = Vec::new();
    if panicked {
        reasons.push("the kernel panicked".to_owned());
    }
    match figures {
        None => reasons.push(format!("no final `fuzz: seed S: ...` line; {exit}")),
        Some(f) if !f.pass => {
            reasons.push("the fuzzer's checks failed (see its `FAILED` line)".to_owned())
        }
        Some(_) if exit != Exit::Success => reasons.push(exit.to_string()),
        Some(_) => {}
    }
    if reasons.is_empty() {
        judgement.counts.passed = 1;
    } else {
        judgement.counts.failed = 1;
        judgement.problems.push(format!(
            "boot `{boot}`: {} (log: {})",
            reasons.join("; "),
            log.display()
        ));
    }
    (judgement, figures)
}

/// Boots one campaign and judges it; prints the figures, or the replay command on failure.
pub fn campaign(
    ws: &Workspace,
    artifacts: &build::Artifacts,
    c: &Campaign,
    name: &str,
) -> Result<Judgement> {
    let symbolizer = qemu::load_symbolizer(ws, &artifacts.kernel);
    let mut boot = Boot::new(artifacts);
    boot.smp = c.cpus;
    boot.append = Some(c.append());
    let started = Instant::now();
    let capture =
        capture::boot_watched(ws, &boot, name, symbolizer.as_ref(), c.time_limit(), QUIET)?;
    let seconds = started.elapsed().as_secs_f64();
    let (judgement, figures) = judge(name, &capture.log, &capture.lines, capture.exit);
    match figures {
        Some(f) => println!(
            "fuzz campaign: seed {}, {} CPU(s): {} invocations, {} posts checked, {seconds:.1} s ({:.0} invocations/s)",
            f.seed,
            c.cpus,
            f.invocations,
            f.posts,
            f.invocations as f64 / seconds
        ),
        None => println!("fuzz campaign: seed {}, {} CPU(s): no figures after {seconds:.1} s", c.seed, c.cpus),
    }
    if judgement.counts.failed > 0 {
        for p in &judgement.problems {
            println!("fuzz campaign FAILED: {p}");
        }
        println!("replay with: {}", c.replay());
    }
    Ok(judgement)
}

/// `cargo xtask fuzz`.
pub fn run(c: &Campaign) -> Result<()> {
    let ws = Workspace::load()?;
    ensure_qemu()?;
    let artifacts = build::build(&ws, c.profile)?;
    let name = format!("fuzz-seed{}-{}cpu", c.seed, c.cpus);
    let judgement = campaign(&ws, &artifacts, c, &name)?;
    if judgement.counts.failed > 0 {
        return Err(Reported.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn the_final_line_parses_and_nothing_else_does() {
        assert_eq!(
            final_line("fuzz: seed 7: 123 invocations, 45 posts checked: pass\r"),
            Some(Figures {
                seed: 7,
                invocations: 123,
                posts: 45,
                pass: true
            })
        );
        assert_eq!(
            final_line("fuzz: seed 7: 1 invocations, 0 posts checked: FAIL").map(|f| f.pass),
            Some(false)
        );
        for bad in [
            "fuzz: seed 7: 1 invocations, 0 posts checked: maybe",
            "fuzz: seed x: 1 invocations, 0 posts checked: pass",
            "fuzz: 100 invocations, 3 posts, 1 victims",
            "",
        ] {
            assert_eq!(final_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_campaign_passes_only_with_pass_success_and_no_panic() {
        let good = "fuzz: seed 1: 10 invocations, 2 posts checked: pass";
        let j = |text: &str, exit| judge("b", Path::new("b.log"), &lines(text), exit).0.counts;
        assert_eq!(
            (j(good, Exit::Success).passed, j(good, Exit::Success).failed),
            (1, 0)
        );
        assert_eq!(j(good, Exit::Failure).failed, 1);
        assert_eq!(
            j(&format!("!!! KERNEL PANIC on CPU 0\n{good}"), Exit::Success).failed,
            1
        );
        assert_eq!(
            j(
                "fuzz: 10 invocations",
                Exit::TimedOut(Duration::from_secs(9))
            )
            .failed,
            1
        );
        assert_eq!(
            j(
                "fuzz: seed 1: 10 invocations, 2 posts checked: FAIL",
                Exit::Failure
            )
            .failed,
            1
        );
    }

    #[test]
    fn the_replay_command_names_every_option() {
        let c = Campaign {
            profile: Profile::Release,
            cpus: 4,
            seed: 9,
            count: 1000,
            limit: None,
        };
        assert_eq!(
            c.replay(),
            "cargo xtask fuzz --cpus 4 --seed 9 --count 1000 --release"
        );
        assert_eq!(c.append(), "test=fuzz seed=9 count=1000");
    }
}
