//! Non-interactive boots for tests and benchmarks: QEMU's output is echoed, logged and kept
//! as lines, and QEMU is killed when it runs past its time limit.
//!
//! Guarantees: a boot returns within its limit (plus the time to kill QEMU) even if the guest
//! hangs or something QEMU started keeps its pipes open; QEMU's own stderr (a bad option, a
//! missing kernel) lands in the same stream and log as the guest's console.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::console::{Console, Tee};
use crate::qemu::{create_log, pump, spawn, Boot, Exit};
use crate::symbolize::Symbolizer;
use crate::workspace::Workspace;

/// One step of typing into the guest's serial console: once the output (since the previous
/// step) contains `wait_for`, `send` is written to COM1.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub wait_for: &'static str,
    pub send: &'static str,
}

/// A finished non-interactive boot.
#[derive(Debug)]
pub struct Capture {
    pub exit: Exit,
    pub lines: Vec<String>,
    pub log: PathBuf,
}

/// Boots without a terminal, echoing and logging the output, and kills QEMU after `limit`.
pub fn boot(
    ws: &Workspace,
    boot: &Boot,
    name: &str,
    symbolizer: Option<&Symbolizer>,
    limit: Duration,
) -> Result<Capture> {
    scripted(ws, boot, name, symbolizer, limit, &[])
}

/// As `boot`, and QEMU is also killed (as timed out) once the guest has printed nothing for
/// `quiet`: a long run that prints progress is judged hung long before its overall limit.
pub fn boot_watched(
    ws: &Workspace,
    boot: &Boot,
    name: &str,
    symbolizer: Option<&Symbolizer>,
    limit: Duration,
    quiet: Duration,
) -> Result<Capture> {
    run(ws, boot, name, symbolizer, limit, Some(quiet), &[])
}

/// As `boot`, typing `script` into the serial console as its cues appear.
pub fn scripted(
    ws: &Workspace,
    boot: &Boot,
    name: &str,
    symbolizer: Option<&Symbolizer>,
    limit: Duration,
    script: &[Step],
) -> Result<Capture> {
    run(ws, boot, name, symbolizer, limit, None, script)
}

fn run(
    ws: &Workspace,
    boot: &Boot,
    name: &str,
    symbolizer: Option<&Symbolizer>,
    limit: Duration,
    quiet: Option<Duration>,
    script: &[Step],
) -> Result<Capture> {
    let log = ws.log_path(name);
    // A watched boot keeps stdin to reach QEMU's monitor (multiplexed on stdio) if it hangs.
    let stdin = if script.is_empty() && quiet.is_none() {
        Stdio::null()
    } else {
        Stdio::piped()
    };
    let mut child = spawn(boot, stdin, Stdio::piped())?;
    let mut input = child.stdin.take();
    let mut steps = script.iter();
    let mut step = steps.next();
    let mut seen = String::new();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let stdout = child
        .stdout
        .take()
        .context("QEMU's stdout was not captured")?;
    let stderr = child
        .stderr
        .take()
        .context("QEMU's stderr was not captured")?;
    // QEMU's own complaints (bad option, missing kernel) go into the same stream and log.
    let readers = [forward(stdout, tx.clone()), forward(stderr, tx)];
    let mut console = Console::new(Tee(io::stdout(), create_log(&log)?), symbolizer, true);
    let deadline = Instant::now() + limit;
    let mut timed_out = None;
    let mut last_output = Instant::now();
    loop {
        let mut wait = deadline.saturating_duration_since(Instant::now());
        if let Some(q) = quiet {
            wait = wait.min((last_output + q).saturating_duration_since(Instant::now()));
        }
        match rx.recv_timeout(wait) {
            Ok(chunk) => {
                last_output = Instant::now();
                console.feed(&chunk)?;
                seen.push_str(&String::from_utf8_lossy(&chunk));
                while let (Some(s), Some(stdin)) = (step, input.as_mut()) {
                    let Some(at) = seen.find(s.wait_for) else {
                        break;
                    };
                    seen.drain(..at + s.wait_for.len());
                    stdin
                        .write_all(s.send.as_bytes())
                        .context("could not type into the guest")?;
                    stdin.flush().context("could not type into the guest")?;
                    step = steps.next();
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let silent =
                    quiet.filter(|&q| Instant::now() < deadline && last_output.elapsed() >= q);
                timed_out = Some(silent.unwrap_or(limit));
                break;
            }
        }
    }
    if timed_out.is_some() {
        if quiet.is_some() {
            if let Some(stdin) = input.as_mut() {
                dump_cpus(stdin, &rx, &mut console)?;
            }
        }
        kill(&mut child)?;
    }
    let status = child.wait().context("could not wait for QEMU")?;
    if timed_out.is_some() {
        // Readers are left behind: a process QEMU started may still hold its pipes open.
        for chunk in rx.try_iter() {
            console.feed(&chunk)?;
        }
    } else {
        for reader in readers {
            // Both pipes are closed (the channel disconnected), so this returns at once.
            let _ = reader.join();
        }
    }
    let lines = console.finish()?;
    let exit = match timed_out {
        Some(after) => Exit::TimedOut(after),
        None => Exit::from_status(status),
    };
    Ok(Capture { exit, lines, log })
}

/// Asks QEMU's monitor (Ctrl-A C on the multiplexed stdio) for every CPU's registers and
/// prints each CPU's RIP and RBP as `hung: CPU n RIP 0x...`, which the symbolizer annotates: where
/// a silent guest is stuck (a kernel spinning on a lock shows as CPUs at ring 0 in a lock).
fn dump_cpus<W: Write>(
    stdin: &mut std::process::ChildStdin,
    rx: &mpsc::Receiver<Vec<u8>>,
    console: &mut Console<'_, W>,
) -> Result<()> {
    if stdin
        .write_all(b"\x01c\ninfo registers -a\n")
        .and_then(|()| stdin.flush())
        .is_err()
    {
        return Ok(());
    }
    let mut dump = String::new();
    let until = Instant::now() + Duration::from_secs(3);
    while let Ok(chunk) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        dump.push_str(&String::from_utf8_lossy(&chunk));
    }
    for line in hung_lines(&dump) {
        console.feed(line.as_bytes())?;
    }
    Ok(())
}

/// `hung: CPU n RIP 0x...` and `hung: CPU n ring N` for each CPU of a monitor register dump.
fn hung_lines(dump: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cpu = None;
    for line in dump.lines() {
        if let Some(n) = line.trim().strip_prefix("CPU#") {
            cpu = Some(n.trim().to_owned());
        }
        let Some(c) = &cpu else { continue };
        for (field, what) in [("RIP=", "RIP 0x"), ("CPL=", "ring ")] {
            if let Some(at) = line.find(field) {
                let value: String = line[at + field.len()..]
                    .chars()
                    .take_while(char::is_ascii_hexdigit)
                    .collect();
                out.push(format!("hung: CPU {c} {what}{value}\n"));
            }
        }
    }
    out
}

fn kill(child: &mut Child) -> Result<()> {
    match child.kill() {
        Ok(()) => Ok(()),
        // It exited between the timeout and the kill.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        Err(e) => Err(e).context("could not kill QEMU"),
    }
}

fn forward(
    source: impl Read + Send + 'static,
    tx: mpsc::Sender<Vec<u8>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        // The receiver only goes away when the boot is over; what is left is then moot.
        let _ = pump(source, |chunk| {
            tx.send(chunk.to_vec())
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_register_dump_gives_each_cpu_its_rip_and_ring() {
        let dump = "(qemu) info registers -a\n\nCPU#0\nRAX=0000000000000001 RBX=2\n\
                    RIP=ffffffff8011295e RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1\n\
                    CPU#1\nRIP=0000000000400010 RFL=00000202 [-------] CPL=3 II=0\n";
        assert_eq!(
            hung_lines(dump),
            vec![
                "hung: CPU 0 RIP 0xffffffff8011295e\n",
                "hung: CPU 0 ring 0\n",
                "hung: CPU 1 RIP 0x0000000000400010\n",
                "hung: CPU 1 ring 3\n",
            ]
        );
        assert!(hung_lines("no registers here").is_empty());
    }
}
