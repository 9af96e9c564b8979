//! `cargo xtask gdb [--smp N] [--release]`: QEMU halted with its gdb stub, and gdb attached
//! with the kernel's symbols and a command to stop in a user program by name.
//!
//! Every user program is linked at the same addresses (each runs in its own address space),
//! so gdb cannot tell them apart by address. `tessera-stop-in NAME` therefore loads NAME's
//! symbols and breaks at the user library's invocation function (`tessera_user::invoke::raw`,
//! which every program calls) on the condition that the code around that address is NAME's own:
//! three words of NAME's ELF, which xtask reads here and writes into the script. QEMU's
//! breakpoints are by virtual address in every address space, so the condition is what makes
//! the stop NAME's. The console goes to a log file (`tail -f` it); gdb has the terminal.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol};

use crate::build::{self, Profile};
use crate::install::ensure_qemu;
use crate::qemu::{self, Boot};
use crate::workspace::Workspace;

/// What every user program calls for its invocations (the user library's).
const SYSCALL_FN: &str = "tessera_user::invoke::raw";
/// Offsets (back from the function) of the words that identify a program's code.
const SIGNATURE: [u64; 3] = [0, 64, 256];

#[derive(Debug, PartialEq, Eq)]
pub struct GdbOptions {
    pub profile: Profile,
    pub smp: u32,
}

/// A user program as the gdb script knows it.
#[derive(Debug)]
struct Program {
    name: String,
    path: PathBuf,
    at: u64,
    words: Vec<(u64, u64)>,
}

/// Where `SYSCALL_FN` is in `path`, and the words at `SIGNATURE` offsets before it.
fn program(name: &str, path: &Path) -> Result<Program> {
    let data = fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let file = object::File::parse(data.as_slice())
        .with_context(|| format!("{} is not an ELF file", path.display()))?;
    let at = file
        .symbols()
        .find(|s| {
            s.name()
                .is_ok_and(|n| format!("{:#}", rustc_demangle::demangle(n)) == SYSCALL_FN)
        })
        .map(|s| s.address())
        .with_context(|| format!("{} has no {SYSCALL_FN}", path.display()))?;
    let text = file
        .sections()
        .find(|s| (s.address()..s.address() + s.size()).contains(&at))
        .context("the system-call function is in no section")?;
    let bytes = text.data()?;
    let words = SIGNATURE
        .iter()
        .filter_map(|back| at.checked_sub(*back).filter(|a| *a >= text.address()))
        .filter_map(|a| {
            let off = (a - text.address()) as usize;
            let w = bytes.get(off..off + 8)?;
            Some((a, u64::from_le_bytes(w.try_into().ok()?)))
        })
        .collect();
    Ok(Program {
        name: name.to_string(),
        path: path.to_path_buf(),
        at,
        words,
    })
}

fn script(kernel: &Path, programs: &[Program]) -> String {
    let mut table = String::new();
    for p in programs {
        let words: Vec<String> = p
            .words
            .iter()
            .map(|(a, w)| format!("({a:#x}, {w:#x})"))
            .collect();
        let _ = writeln!(
            table,
            "    {:?}: ({:?}, {:#x}, [{}]),",
            p.name,
            p.path.display().to_string(),
            p.at,
            words.join(", ")
        );
    }
    format!(
        r#"import gdb

# name: (ELF, address of {SYSCALL_FN}, [(address, the program's code word there)])
PROGRAMS = {{
{table}}}

gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute("file {kernel}")
gdb.execute("target remote :1234")

class ProgramBreak(gdb.Breakpoint):
    """Stops at `at` only in the program whose code words are `words`. A page of code not
    mapped yet (the kernel maps it at the fetch's fault) is no stop: the fetch comes again."""

    def __init__(self, at, words):
        super().__init__("*%#x" % at)
        self.words = words

    def stop(self):
        inferior = gdb.selected_inferior()
        try:
            return all(int.from_bytes(inferior.read_memory(a, 8).tobytes(), "little") == w for a, w in self.words)
        except gdb.MemoryError:
            return False

class StopIn(gdb.Command):
    """tessera-stop-in PROGRAM: stop at PROGRAM's next invocation (its symbols loaded).
Programs: {names}."""

    def __init__(self):
        super().__init__("tessera-stop-in", gdb.COMMAND_BREAKPOINTS)

    def invoke(self, arg, from_tty):
        name = arg.strip()
        if name not in PROGRAMS:
            raise gdb.GdbError("no program %r; the programs are %s" % (name, ", ".join(sorted(PROGRAMS))))
        path, at, words = PROGRAMS[name]
        for other, (other_path, _, _) in PROGRAMS.items():
            try:
                gdb.execute("remove-symbol-file %s" % other_path, to_string=True)
            except gdb.error:
                pass
        gdb.execute("add-symbol-file %s" % path, to_string=True)
        ProgramBreak(at, words)
        print("will stop in %s at its next invocation; continue to get there" % name)

StopIn()
print("Tessera: QEMU is halted before the kernel's first instruction. "
      "`tessera-stop-in NAME` stops in a user program ({names}); `continue` runs.")
"#,
        kernel = kernel.display(),
        names = programs
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    )
}

pub fn run(o: &GdbOptions) -> Result<()> {
    let ws = Workspace::load()?;
    ensure_qemu()?;
    if Command::new("gdb")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        bail!("gdb is not installed (apt-get install --no-install-recommends gdb)");
    }
    let artifacts = build::build(&ws, o.profile)?;
    let out = build::output_dir(&ws, o.profile);
    let programs: Vec<Program> = ws
        .programs
        .iter()
        .flat_map(|p| &p.bins)
        .map(|bin| program(bin, &out.join(bin)))
        .collect::<Result<_>>()?;
    let dir = ws.tessera_dir().join("gdb");
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let path = dir.join("tessera.py");
    fs::write(&path, script(&artifacts.kernel, &programs))
        .with_context(|| format!("could not write {}", path.display()))?;
    let mut boot = Boot::new(&artifacts);
    boot.smp = o.smp;
    boot.gdb = true;
    let log = ws.log_path("gdb");
    let console = qemu::create_log(&log)?;
    let mut qemu = Command::new(qemu::QEMU)
        .args(boot.args())
        .stdin(Stdio::null())
        .stdout(console.try_clone()?)
        .stderr(console)
        .spawn()
        .with_context(|| format!("could not start {}", qemu::QEMU))?;
    println!(
        "QEMU waits for gdb on :1234; the console is in {} (tail -f it)",
        log.display()
    );
    let status = Command::new("gdb").args(["-q", "-x"]).arg(&path).status();
    let _ = qemu.kill();
    let _ = qemu.wait();
    status.context("could not run gdb")?;
    Ok(())
}
