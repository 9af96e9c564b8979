//! The shell, driven through the serial port as a person would: boot normally, wait for the
//! prompt, type `help`, `ps` and `shutdown`, and check what comes back. One test each; `ps`
//! must list init and every program the system table starts in a normal boot.

use crate::capture::Step;
use crate::ktest::Judgement;
use crate::qemu::Exit;
use std::path::Path;
use tessera_system::Boot;

const PROMPT: &str = "tessera> ";

pub const SCRIPT: &[Step] = &[
    Step {
        wait_for: PROMPT,
        send: "help\r",
    },
    Step {
        wait_for: PROMPT,
        send: "ps\r",
    },
    Step {
        wait_for: PROMPT,
        send: "shutdown\r",
    },
];

/// One check per command: its answer is on the console, in the order typed.
pub fn judge(boot: &str, log: &Path, lines: &[String], exit: Exit) -> Judgement {
    let text = lines.join("\n");
    let help = text
        .find("tessera> help")
        .and_then(|at| text[at..].find("commands:").map(|i| at + i));
    let ps = text.find("tessera> ps").and_then(|at| {
        let rest = &text[at..];
        let header = rest.find("ID  NAME")?;
        let table = &rest[header..];
        let mut normal = tessera_system::PROGRAMS
            .iter()
            .filter(|p| p.starts_in(Boot::Normal));
        (table.contains("init") && normal.all(|p| table.contains(p.name))).then_some(at)
    });
    let checks = [
        ("the shell answers help", help.is_some()),
        (
            "the shell answers ps with the running programs",
            ps.is_some() && ps > help,
        ),
        (
            "shutdown ends QEMU with success",
            text.contains("tessera> shutdown") && exit == Exit::Success,
        ),
    ];
    let mut judgement = Judgement::default();
    for (what, ok) in checks {
        println!("shell: {what} ... {}", if ok { "ok" } else { "FAILED" });
        if ok {
            judgement.counts.passed += 1;
        } else {
            judgement.counts.failed += 1;
            judgement.problems.push(format!(
                "{boot}: {what} — no (log: {}; {exit})",
                log.display()
            ));
        }
    }
    judgement
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn lines(t: &str) -> Vec<String> {
        t.lines().map(str::to_owned).collect()
    }

    const GOOD: &str = "Tessera shell.\ntessera> help\ncommands:\n  help\ntessera> ps\n  ID  NAME   STATE\n   0  init   available\n   3  serial available\n   4  shell  running\n   5  echo   available\n   6  hello  halted\ntessera> shutdown\nshutting down";

    #[test]
    fn a_good_session_passes_every_check() {
        let j = judge(
            "shell",
            &PathBuf::from("x.log"),
            &lines(GOOD),
            Exit::Success,
        );
        assert_eq!((j.counts.passed, j.counts.failed), (3, 0));
    }

    #[test]
    fn missing_answers_and_a_bad_exit_fail() {
        let j = judge(
            "shell",
            &PathBuf::from("x.log"),
            &lines("tessera> help\ntessera> ps\n"),
            Exit::Failure,
        );
        assert_eq!((j.counts.passed, j.counts.failed), (0, 3));
        let no_serial = GOOD.replace("serial", "serail");
        let j = judge(
            "shell",
            &PathBuf::from("x.log"),
            &lines(&no_serial),
            Exit::Success,
        );
        assert_eq!((j.counts.passed, j.counts.failed), (2, 1));
    }
}
