//! The console loses nothing: a 64 KiB script pasted into COM1 at once (far beyond the
//! serial driver's buffer), and every one of its lines must be answered, in order.

use std::path::Path;

use crate::capture::Step;
use crate::ktest::Judgement;
use crate::qemu::Exit;

/// Bytes of the pasted script.
pub const PASTE_BYTES: usize = 64 * 1024;
const FILLER: &str = "the quick brown fox jumps over the lazy dog";

fn line(i: usize) -> String {
    format!("paste {i:05} {FILLER}")
}

/// The lines the shell must print, one per pasted `echo`.
pub fn expected() -> Vec<String> {
    let mut lines = Vec::new();
    let mut bytes = 0;
    while bytes < PASTE_BYTES {
        let l = line(lines.len());
        bytes += "echo ".len() + l.len() + 1;
        lines.push(l);
    }
    lines
}

/// The whole paste, typed at the first prompt, ended by `shutdown`.
pub fn script() -> Vec<Step> {
    let mut text = String::new();
    for l in expected() {
        text.push_str("echo ");
        text.push_str(&l);
        text.push('\r');
    }
    text.push_str("shutdown\r");
    vec![Step {
        wait_for: "tessera> ",
        send: Box::leak(text.into_boxed_str()),
    }]
}

pub fn judge(boot: &str, log: &Path, lines: &[String], exit: Exit) -> Judgement {
    let printed: std::collections::HashSet<&str> =
        lines.iter().map(|l| l.trim_end_matches('\r')).collect();
    let expected = expected();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|l| !printed.contains(l.as_str()))
        .collect();
    let overrun = lines.iter().any(|l| l.contains("input overrun"));
    let mut judgement = Judgement::default();
    let ok = missing.is_empty() && !overrun && exit == Exit::Success;
    println!(
        "paste: {} lines ({} KiB) pasted into COM1, {} answered ... {}",
        expected.len(),
        PASTE_BYTES / 1024,
        expected.len() - missing.len(),
        if ok { "ok" } else { "FAILED" }
    );
    if ok {
        judgement.counts.passed += 1;
    } else {
        judgement.counts.failed += 1;
        let first = missing
            .first()
            .map_or("none".to_string(), |l| l.to_string());
        judgement.problems.push(format!(
            "{boot}: {} pasted lines not answered (first: {first}), overrun reported: {overrun} (log: {}; {exit})",
            missing.len(),
            log.display()
        ));
    }
    judgement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_64_kib_of_distinct_lines() {
        let s = script();
        assert!(s[0].send.len() >= PASTE_BYTES);
        let e = expected();
        assert_eq!(
            e.len(),
            e.iter().collect::<std::collections::HashSet<_>>().len()
        );
        assert!(
            e.iter().all(|l| l.len() + "echo ".len() < 120),
            "a line longer than the shell's"
        );
    }

    #[test]
    fn one_missing_line_or_an_overrun_fails() {
        let all: Vec<String> = expected();
        let p = Path::new("x.log");
        assert_eq!(judge("paste", p, &all, Exit::Success).counts.failed, 0);
        let mut lost = all.clone();
        lost.remove(700);
        assert_eq!(judge("paste", p, &lost, Exit::Success).counts.failed, 1);
        let mut overrun = all.clone();
        overrun.push("serial: input overrun: the UART lost input bytes".into());
        assert_eq!(judge("paste", p, &overrun, Exit::Success).counts.failed, 1);
    }
}
