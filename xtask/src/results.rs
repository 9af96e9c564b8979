//! Parsers for the result lines test runs print: cargo's `test result:` lines, the kernel's
//! `ktest:` lines, and the plain `N passed, N failed` verdict of the user test suite.
//!
//! Guarantees: a line parses only if it has exactly the documented shape; anything else is
//! `None`, so a stray log line can never count as a pass. Kernel lines may carry a prefix
//! (a CPU tag, a timestamp) before `ktest: `, and trailing whitespace or `\r` is ignored.

/// Passed and failed counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
}

/// `test result: ok. 12 passed; 0 failed; 0 ignored; ...` (or `FAILED.`).
pub fn cargo_result(line: &str) -> Option<Counts> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let rest = rest
        .strip_prefix("ok. ")
        .or_else(|| rest.strip_prefix("FAILED. "))?;
    let mut fields = rest.split("; ");
    let passed = count_of(fields.next()?, "passed")?;
    let failed = count_of(fields.next()?, "failed")?;
    Some(Counts { passed, failed })
}

/// One line of the kernel test protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ktest {
    Passed(String),
    Failed(String),
    /// A should-panic test that ended in the expected panic.
    PanickedAsExpected(String),
    /// A test that must end the kernel in a panic, to be run in a boot of its own.
    ShouldPanic(String),
    Summary(Counts),
    /// The kernel wrote its exit code but QEMU did not exit.
    ExitDeviceMissing,
}

pub fn ktest(line: &str) -> Option<Ktest> {
    let line = line.trim_end();
    if line.contains("BUG: QEMU isa-debug-exit device missing") {
        return Some(Ktest::ExitDeviceMissing);
    }
    let (_, rest) = line.split_once("ktest: ")?;
    if let Some(name) = rest.strip_prefix("should_panic ") {
        return test_name(name).map(|n| Ktest::ShouldPanic(n.to_owned()));
    }
    if let Some((name, outcome)) = rest.split_once(" ... ") {
        let name = test_name(name)?.to_owned();
        return match outcome {
            "ok" => Some(Ktest::Passed(name)),
            "ok (panicked as expected)" => Some(Ktest::PanickedAsExpected(name)),
            // The kernel may say where and why after the word.
            _ if failed_outcome(outcome) => Some(Ktest::Failed(name)),
            _ => None,
        };
    }
    verdict(rest).map(Ktest::Summary)
}

/// `N passed, N failed`, alone (after an optional prefix ending in `: `, as the kernel's own).
pub fn verdict(line: &str) -> Option<Counts> {
    let line = line.trim();
    let line = line.rsplit_once(": ").map_or(line, |(_, counts)| counts);
    let (passed, failed) = line.split_once(", ")?;
    Some(Counts {
        passed: count_of(passed, "passed")?,
        failed: count_of(failed, "failed")?,
    })
}

/// `FAILED`, alone or followed by `: why` or ` at file:line: why`.
fn failed_outcome(outcome: &str) -> bool {
    outcome
        .strip_prefix("FAILED")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':') || rest.starts_with(' '))
}

/// `N word` with exactly that word.
fn count_of(field: &str, word: &str) -> Option<u64> {
    let (number, label) = field.trim().split_once(' ')?;
    if label != word || number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

/// Test names are single words (`cap::derive_narrows`); anything else is not a protocol line.
fn test_name(name: &str) -> Option<&str> {
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(passed: u64, failed: u64) -> Option<Counts> {
        Some(Counts { passed, failed })
    }

    #[test]
    fn cargo_result_lines_parse() {
        assert_eq!(
            cargo_result("test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s"),
            counts(12, 0)
        );
        assert_eq!(
            cargo_result(
                "test result: FAILED. 3 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out"
            ),
            counts(3, 2)
        );
        assert_eq!(
            cargo_result("  test result: ok. 0 passed; 0 failed; 0 ignored\r"),
            counts(0, 0)
        );
    }

    #[test]
    fn other_cargo_lines_do_not_parse() {
        for line in [
            "test foo ... ok",
            "running 3 tests",
            "test result: ok. passed; 0 failed;",
            "test result: ok. 1 failed; 2 passed;",
            "test result: maybe. 1 passed; 0 failed;",
            "test result: ok. -1 passed; 0 failed;",
            "test result: ok. 1 passed",
            "",
        ] {
            assert_eq!(cargo_result(line), None, "{line:?}");
        }
    }

    #[test]
    fn ktest_lines_parse() {
        assert_eq!(
            ktest("ktest: cap::derive ... ok"),
            Some(Ktest::Passed("cap::derive".into()))
        );
        assert_eq!(
            ktest("ktest: mm::map ... FAILED\r"),
            Some(Ktest::Failed("mm::map".into()))
        );
        assert_eq!(
            ktest("ktest: mm::map ... FAILED at kernel/x86_64/src/mm.rs:42: frame leaked"),
            Some(Ktest::Failed("mm::map".into()))
        );
        assert_eq!(
            ktest("ktest: trap::ud ... FAILED: returned without the expected panic"),
            Some(Ktest::Failed("trap::ud".into()))
        );
        assert_eq!(
            ktest("ktest: sched::bad ... ok (panicked as expected)"),
            Some(Ktest::PanickedAsExpected("sched::bad".into()))
        );
        assert_eq!(
            ktest("ktest: should_panic sched::bad"),
            Some(Ktest::ShouldPanic("sched::bad".into()))
        );
        assert_eq!(
            ktest("ktest: 7 passed, 1 failed"),
            Some(Ktest::Summary(Counts {
                passed: 7,
                failed: 1
            }))
        );
        assert_eq!(
            ktest("[cpu1] ktest: x ... ok"),
            Some(Ktest::Passed("x".into()))
        );
        assert_eq!(
            ktest("BUG: QEMU isa-debug-exit device missing"),
            Some(Ktest::ExitDeviceMissing)
        );
    }

    #[test]
    fn malformed_ktest_lines_do_not_parse() {
        for line in [
            "ktest: x ... okay",
            "ktest: x ... ok (panicked)",
            "ktest: x ... FAILEDISH",
            "ktest: x ... failed",
            "ktest:  ... ok",
            "ktest: two words ... ok",
            "ktest: should_panic ",
            "ktest: should_panic two words",
            "ktest: 7 passed",
            "ktest: 7 passed, many failed",
            "ktest x ... ok",
            "test x ... ok",
            "",
        ] {
            assert_eq!(ktest(line), None, "{line:?}");
        }
    }

    #[test]
    fn verdict_lines_parse_with_or_without_a_prefix() {
        assert_eq!(verdict("5 passed, 0 failed"), counts(5, 0));
        assert_eq!(verdict("usertests: 3 passed, 2 failed\r"), counts(3, 2));
        assert_eq!(verdict("5 passed, 0 failed, 1 skipped"), None);
        assert_eq!(verdict("5 passed 0 failed"), None);
        assert_eq!(verdict("passed, failed"), None);
    }
}
