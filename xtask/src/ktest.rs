//! Judges kernel and user test boots from their captured console lines and QEMU exit.
//!
//! Guarantees: a boot passes only when everything agrees: the per-test lines, the kernel's
//! own summary and the exit code it chose. A timeout, a missing summary, a foreign exit code
//! or a missing isa-debug-exit device each fail the boot, once, with a message naming it and
//! its log; failed tests are counted one by one.

use std::path::Path;

use crate::qemu::Exit;
use crate::results::{ktest, verdict, Counts, Ktest};

/// What one or more boots contributed to the run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    pub counts: Counts,
    /// Why each failure happened, for the closing report.
    pub problems: Vec<String>,
    /// Tests that must panic, each to be run in a boot of its own (from `test=all` only).
    pub should_panic: Vec<String>,
}

impl Judgement {
    /// Adds another stage's or boot's results to these.
    pub fn absorb(&mut self, other: Judgement) {
        self.counts.passed += other.counts.passed;
        self.counts.failed += other.counts.failed;
        self.problems.extend(other.problems);
        self.should_panic.extend(other.should_panic);
    }

    /// Counts one failure of the boot as a whole, whatever its tests said.
    fn boot_failed(&mut self, boot: &str, log: &Path, reasons: &[String]) {
        self.counts.failed += 1;
        self.problems.push(format!(
            "boot `{boot}`: {} (log: {})",
            reasons.join("; "),
            log.display()
        ));
    }
}

/// The `test=all` boot: every test's line, then should-panic names, then the summary.
pub fn judge_all(boot: &str, log: &Path, lines: &[String], exit: Exit) -> Judgement {
    let mut judgement = Judgement::default();
    let mut summary = None;
    let mut device_missing = false;
    for line in lines {
        match ktest(line) {
            Some(Ktest::Passed(_) | Ktest::PanickedAsExpected(_)) => judgement.counts.passed += 1,
            Some(Ktest::Failed(name)) => {
                judgement.counts.failed += 1;
                judgement.problems.push(format!(
                    "kernel test `{name}` FAILED (log: {})",
                    log.display()
                ));
            }
            Some(Ktest::ShouldPanic(name)) => judgement.should_panic.push(name),
            Some(Ktest::Summary(counts)) => summary = Some(counts),
            Some(Ktest::ExitDeviceMissing) => device_missing = true,
            None => {}
        }
    }
    let mut reasons = Vec::new();
    if device_missing {
        reasons.push("the kernel printed `BUG: QEMU isa-debug-exit device missing`".to_owned());
    }
    match summary {
        None => reasons.push(format!("no `ktest: N passed, N failed` summary; {exit}")),
        Some(said) => {
            if said != judgement.counts {
                reasons.push(format!(
                    "the summary says {} passed, {} failed but the test lines say {} passed, {} failed",
                    said.passed, said.failed, judgement.counts.passed, judgement.counts.failed
                ));
            }
            let expected = if said.failed == 0 {
                Exit::Success
            } else {
                Exit::Failure
            };
            if exit != expected {
                reasons.push(format!("{exit}, after a summary of {} failed", said.failed));
            }
        }
    }
    if !reasons.is_empty() {
        judgement.boot_failed(boot, log, &reasons);
    }
    judgement
}

/// A `test=<name>` boot of a test that must panic.
pub fn judge_should_panic(
    name: &str,
    boot: &str,
    log: &Path,
    lines: &[String],
    exit: Exit,
) -> Judgement {
    let mut judgement = Judgement::default();
    let mut panicked = false;
    let mut reasons = Vec::new();
    for line in lines {
        match ktest(line) {
            Some(Ktest::PanickedAsExpected(n)) if n == name => panicked = true,
            Some(Ktest::ExitDeviceMissing) => reasons
                .push("the kernel printed `BUG: QEMU isa-debug-exit device missing`".to_owned()),
            _ => {}
        }
    }
    if !panicked {
        reasons.push(format!("no `ktest: {name} ... ok (panicked as expected)`"));
    }
    if exit != Exit::Success {
        reasons.push(exit.to_string());
    }
    if reasons.is_empty() {
        judgement.counts.passed = 1;
    } else {
        judgement.boot_failed(boot, log, &reasons);
    }
    judgement
}

/// The `test=user` boot: the user test suite ends with one `N passed, N failed` line.
pub fn judge_user(boot: &str, log: &Path, lines: &[String], exit: Exit) -> Judgement {
    let mut judgement = Judgement::default();
    let Some(counts) = lines.iter().rev().find_map(|l| verdict(l)) else {
        judgement.boot_failed(
            boot,
            log,
            &[format!("no `N passed, N failed` line; {exit}")],
        );
        return judgement;
    };
    judgement.counts = counts;
    if counts.failed > 0 {
        judgement.problems.push(format!(
            "{} user tests failed (log: {})",
            counts.failed,
            log.display()
        ));
    }
    let expected = if counts.failed == 0 {
        Exit::Success
    } else {
        Exit::Failure
    };
    if exit != expected {
        judgement.boot_failed(
            boot,
            log,
            &[format!("{exit}, after {} failed", counts.failed)],
        );
    }
    judgement
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    fn all(text: &str, exit: Exit) -> Judgement {
        judge_all("ktest-all", Path::new("all.log"), &lines(text), exit)
    }

    const GOOD: &str = "hello\nktest: a ... ok\nktest: b ... ok\nktest: should_panic c\nktest: 2 passed, 0 failed\n";

    #[test]
    fn a_clean_run_passes_and_lists_should_panic_tests() {
        let j = all(GOOD, Exit::Success);
        assert_eq!(
            j.counts,
            Counts {
                passed: 2,
                failed: 0
            }
        );
        assert!(j.problems.is_empty());
        assert_eq!(j.should_panic, vec!["c".to_owned()]);
    }

    #[test]
    fn failed_tests_count_one_by_one() {
        let j = all(
            "ktest: a ... FAILED\nktest: b ... FAILED\nktest: c ... ok\nktest: 1 passed, 2 failed",
            Exit::Failure,
        );
        assert_eq!(
            j.counts,
            Counts {
                passed: 1,
                failed: 2
            }
        );
        assert_eq!(j.problems.len(), 2);
        assert!(j.problems[0].contains("`a` FAILED"));
    }

    #[test]
    fn a_missing_summary_fails_the_boot_once() {
        let j = all("ktest: a ... ok\npanicked at foo.rs:3", Exit::Failure);
        assert_eq!(
            j.counts,
            Counts {
                passed: 1,
                failed: 1
            }
        );
        assert!(
            j.problems[0].contains("no `ktest: N passed, N failed` summary"),
            "{:?}",
            j.problems
        );
        assert!(j.problems[0].contains("ktest-all") && j.problems[0].contains("all.log"));
    }

    #[test]
    fn a_timeout_fails_the_boot() {
        let j = all("ktest: a ... ok", Exit::TimedOut(Duration::from_secs(120)));
        assert_eq!(j.counts.failed, 1);
        assert!(j.problems[0].contains("timed out after 120 s"));
    }

    #[test]
    fn exit_codes_must_match_the_summary() {
        assert_eq!(all(GOOD, Exit::Failure).counts.failed, 1);
        assert_eq!(all(GOOD, Exit::Other(0)).counts.failed, 1);
        assert!(all(GOOD, Exit::Other(1)).problems[0].contains("not a Tessera exit code"));
        assert_eq!(
            all(
                "ktest: a ... FAILED\nktest: 0 passed, 1 failed",
                Exit::Success
            )
            .counts
            .failed,
            2
        );
    }

    #[test]
    fn a_summary_that_disagrees_with_the_lines_fails_the_boot() {
        let j = all("ktest: a ... ok\nktest: 5 passed, 0 failed", Exit::Success);
        assert_eq!(
            j.counts,
            Counts {
                passed: 1,
                failed: 1
            }
        );
        assert!(j.problems[0].contains("summary says 5 passed"));
    }

    #[test]
    fn a_missing_exit_device_fails_the_boot() {
        let j = all(
            &format!("{GOOD}BUG: QEMU isa-debug-exit device missing"),
            Exit::Other(0),
        );
        assert_eq!(j.counts.failed, 1);
        assert!(j.problems[0].contains("isa-debug-exit device missing"));
    }

    fn panic_boot(text: &str, exit: Exit) -> Judgement {
        judge_should_panic("c", "ktest-c", Path::new("c.log"), &lines(text), exit)
    }

    #[test]
    fn should_panic_passes_only_on_its_line_and_success() {
        let good = "ktest: c ... ok (panicked as expected)";
        assert_eq!(
            panic_boot(good, Exit::Success).counts,
            Counts {
                passed: 1,
                failed: 0
            }
        );
        assert_eq!(
            panic_boot(good, Exit::Failure).counts,
            Counts {
                passed: 0,
                failed: 1
            }
        );
        assert_eq!(
            panic_boot("ktest: d ... ok (panicked as expected)", Exit::Success)
                .counts
                .failed,
            1
        );
        assert_eq!(
            panic_boot("ktest: c ... ok", Exit::Success).counts.failed,
            1
        );
        let missing = format!("{good}\nBUG: QEMU isa-debug-exit device missing");
        assert_eq!(panic_boot(&missing, Exit::Other(0)).counts.failed, 1);
    }

    fn user(text: &str, exit: Exit) -> Judgement {
        judge_user("user-tests", Path::new("u.log"), &lines(text), exit)
    }

    #[test]
    fn user_tests_take_the_last_verdict_and_check_the_exit() {
        assert_eq!(
            user("usertests: 4 passed, 0 failed", Exit::Success).counts,
            Counts {
                passed: 4,
                failed: 0
            }
        );
        let failing = user("1 passed, 0 failed\n3 passed, 2 failed", Exit::Failure);
        assert_eq!(
            failing.counts,
            Counts {
                passed: 3,
                failed: 2
            }
        );
        assert_eq!(user("4 passed, 0 failed", Exit::Failure).counts.failed, 1);
        assert_eq!(
            user("no verdict here", Exit::Success).counts,
            Counts {
                passed: 0,
                failed: 1
            }
        );
    }
}
