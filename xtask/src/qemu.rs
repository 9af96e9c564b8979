//! Booting the kernel in QEMU: the command line, the exit-code protocol, and `cargo xtask run`
//! with the serial console on this terminal.
//!
//! Guarantees: the guest ends a run by writing 0x10 (success) or 0x20 (failure) to the
//! isa-debug-exit port 0xf4, which QEMU turns into exit codes 33 and 65; any other code, a
//! signal or a timeout is reported as such and never mistaken for a verdict. Every boot's
//! console output is also written to a log file.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::build::{self, Artifacts};
use crate::console::{Console, Tee};
use crate::install::ensure_qemu;
use crate::symbolize::Symbolizer;
use crate::workspace::Workspace;
use crate::{Reported, RunOptions};

pub const QEMU: &str = "qemu-system-x86_64";

/// How one boot is configured.
#[derive(Debug, Clone)]
pub struct Boot {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub smp: u32,
    pub gdb: bool,
    /// The kernel command line (`test=all`, `bench`, ...).
    pub append: Option<String>,
    /// Deterministic instruction counting for benchmarks (`-icount shift=0`).
    pub icount: bool,
    pub extra: Vec<OsString>,
}

impl Boot {
    pub fn new(artifacts: &Artifacts) -> Self {
        Boot {
            kernel: artifacts.kernel.clone(),
            initrd: artifacts.bootfs.clone(),
            smp: 1,
            gdb: false,
            append: None,
            icount: false,
            extra: Vec::new(),
        }
    }

    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "-machine",
            "q35",
            "-cpu",
            "max",
            "-m",
            // The boot bank's 256 MiB of pages, the kernel heap's 48 MiB, and the rest.
            "512M",
            "-smp",
            &self.smp.to_string(),
            "-display",
            "none",
            "-serial",
            "mon:stdio",
            "-no-reboot",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        if self.smp > 1 {
            args.extend(["-accel", "tcg,thread=multi"].map(OsString::from));
        }
        if self.icount {
            args.extend(["-icount", "shift=0"].map(OsString::from));
        }
        if self.gdb {
            args.extend(["-s", "-S"].map(OsString::from));
        }
        args.push("-kernel".into());
        args.push(self.kernel.clone().into());
        if let Some(initrd) = &self.initrd {
            args.push("-initrd".into());
            args.push(initrd.clone().into());
        }
        // The kernel cannot see -icount, so it is told: it names its TSC figures by it.
        let append = match (&self.append, self.icount) {
            (Some(a), true) => Some(format!("{a} icount")),
            (None, true) => Some("icount".to_string()),
            (a, false) => a.clone(),
        };
        if let Some(append) = append {
            args.push("-append".into());
            args.push(append.into());
        }
        args.extend(self.extra.iter().cloned());
        args
    }
}

/// How QEMU ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The guest wrote 0x10 to port 0xf4.
    Success,
    /// The guest wrote 0x20 to port 0xf4.
    Failure,
    Other(i32),
    Signal,
    TimedOut(Duration),
}

impl Exit {
    pub fn from_status(status: ExitStatus) -> Exit {
        match status.code() {
            Some(33) => Exit::Success,
            Some(65) => Exit::Failure,
            Some(code) => Exit::Other(code),
            None => Exit::Signal,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Success => f.write_str("the kernel reported success (exit code 0x10)"),
            Exit::Failure => f.write_str("the kernel reported failure (exit code 0x20)"),
            Exit::Other(code) => {
                write!(f, "QEMU exited with code {code} (not a Tessera exit code)")
            }
            Exit::Signal => f.write_str("QEMU was killed by a signal (not a Tessera exit code)"),
            Exit::TimedOut(limit) => write!(
                f,
                "QEMU timed out after {} s and was killed",
                limit.as_secs()
            ),
        }
    }
}

/// `cargo xtask run`.
pub fn run(options: &RunOptions) -> Result<()> {
    let ws = Workspace::load()?;
    ensure_qemu()?;
    let artifacts = build::build(&ws, options.profile)?;
    let mut boot = Boot::new(&artifacts);
    boot.smp = options.smp;
    boot.gdb = options.gdb;
    boot.extra = options.qemu_args.clone();
    if boot.gdb {
        println!("QEMU waits for gdb; attach with:");
        println!(
            "    gdb {} -ex 'target remote :1234'",
            boot.kernel.display()
        );
    }
    println!(
        "Booting {} on {} CPU(s); Ctrl-A X quits QEMU.",
        boot.kernel.display(),
        boot.smp
    );
    let symbolizer = load_symbolizer(&ws, &boot.kernel);
    let log = ws.log_path("run");
    let mut child = spawn(&boot, Stdio::inherit(), Stdio::inherit())?;
    let out = child
        .stdout
        .take()
        .context("QEMU's stdout was not captured")?;
    let mut console = Console::new(
        Tee(io::stdout(), create_log(&log)?),
        symbolizer.as_ref(),
        false,
    );
    if let Err(e) = pump(out, |chunk| console.feed(chunk)) {
        // Nobody can see the guest any more: do not leave QEMU running behind us.
        let _ = child.kill();
        return Err(e);
    }
    console.finish()?;
    let exit = Exit::from_status(child.wait().context("could not wait for QEMU")?);
    match exit {
        Exit::Success => Ok(()),
        // Ctrl-A X: the person at the console quit QEMU, which is not a failure.
        Exit::Other(0) => {
            eprintln!("QEMU quit (Ctrl-A X)");
            Ok(())
        }
        other => {
            eprintln!("{other}");
            Err(Reported.into())
        }
    }
}

/// The symbolizer for `kernel`, or a warning and none: a boot is still worth running without.
pub fn load_symbolizer(ws: &Workspace, kernel: &Path) -> Option<Symbolizer> {
    match Symbolizer::from_elf(kernel, &ws.root) {
        Ok(symbolizer) => Some(symbolizer),
        Err(e) => {
            eprintln!("warning: backtraces will not be symbolized: {e:#}");
            None
        }
    }
}

pub fn spawn(boot: &Boot, stdin: Stdio, stderr: Stdio) -> Result<Child> {
    Command::new(QEMU)
        .args(boot.args())
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("could not start {QEMU}"))
}

pub fn create_log(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    File::create(path).with_context(|| format!("could not create the log {}", path.display()))
}

/// Calls `sink` with each chunk read from `source` until it ends.
pub fn pump(mut source: impl Read, mut sink: impl FnMut(&[u8]) -> io::Result<()>) -> Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match source.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => sink(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("could not read QEMU's output"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> Boot {
        Boot {
            kernel: "/t/tessera-kernel".into(),
            initrd: None,
            smp: 1,
            gdb: false,
            append: None,
            icount: false,
            extra: vec![],
        }
    }

    fn joined(boot: &Boot) -> String {
        boot.args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_plain_boot_has_the_fixed_machine_and_no_extras() {
        assert_eq!(
            joined(&boot()),
            "-machine q35 -cpu max -m 512M -smp 1 -display none -serial mon:stdio -no-reboot \
             -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel /t/tessera-kernel"
        );
    }

    #[test]
    fn smp_gdb_initrd_append_icount_and_extras_are_added() {
        let b = Boot {
            initrd: Some("/t/bootfs.tar".into()),
            smp: 2,
            gdb: true,
            append: Some("test=all".into()),
            icount: true,
            extra: vec!["-d".into(), "int".into()],
            ..boot()
        };
        let args = joined(&b);
        assert!(args.contains("-smp 2 "));
        assert!(args.contains("-accel tcg,thread=multi"));
        assert!(args.contains("-icount shift=0"));
        assert!(args.contains(" -s -S "));
        assert!(args.ends_with("-initrd /t/bootfs.tar -append test=all icount -d int"));
    }

    #[test]
    fn one_cpu_uses_the_default_accelerator() {
        assert!(!joined(&boot()).contains("-accel"));
    }

    #[test]
    fn exit_codes_map_to_the_protocol() {
        use std::os::unix::process::ExitStatusExt;
        let status = |code: i32| ExitStatus::from_raw(code << 8);
        assert_eq!(Exit::from_status(status(33)), Exit::Success);
        assert_eq!(Exit::from_status(status(65)), Exit::Failure);
        assert_eq!(Exit::from_status(status(0)), Exit::Other(0));
        assert_eq!(Exit::from_status(status(1)), Exit::Other(1));
        assert_eq!(Exit::from_status(ExitStatus::from_raw(9)), Exit::Signal);
        assert_eq!(
            Exit::Other(1).to_string(),
            "QEMU exited with code 1 (not a Tessera exit code)"
        );
    }
}
