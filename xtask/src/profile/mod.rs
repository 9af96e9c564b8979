//! `cargo xtask profile <benchmark>`: the exact per-function instruction profile of one
//! operation of a benchmark of `cargo xtask bench`, written to
//! `target/tessera/profile/<benchmark>.md`; `cargo xtask profile --list` names the benchmarks
//! it can profile.
//!
//! How: the kernel boots exactly as `cargo xtask bench` boots it (one CPU, `-icount shift=0`)
//! with the word `profile` added to its command line, QEMU halted with its gdb stub on a Unix
//! socket. In profile mode the bench program runs every benchmark as usual and then, for each
//! one profilable, a short run of it (a few operations) between the markers
//! `tessera_profile_begin` (given a magic word and the benchmark's name) and
//! `tessera_profile_end`. xtask breaks at the begin marker, skips the hits that are not the
//! bench program's (every program is linked at the same addresses: the magic word in `rdi`
//! tells) or not the named benchmark, steps out of the marker, then single-steps to the end
//! marker in the bench program's address space, recording each instruction's `rip`, `cr3` and
//! `rsp`. QEMU's single step follows `syscall` into the kernel and every process it switches
//! to, masks interrupts and timers (`irq_to_driver` lets interrupts through: its device
//! interrupt is the operation), and executes a `rep` instruction one iteration at a time: what
//! `-icount` counts. `timing.rs` picks one operation out of the trace by the benchmark's own
//! TSC reads. It then lets the guest print the benchmark's figure and compares.
//!
//! xtask speaks the gdb remote protocol itself (`rsp.rs`) rather than driving gdb with a
//! script: the protocol needed is six packets, the stepping loop is the hot part (thousands of
//! round trips), and this way nothing but QEMU has to be installed and nothing parses gdb's
//! console output.
//!
//! Symbols: kernel addresses with the kernel ELF, user addresses with the ELF of the program
//! whose code is in that address space, found by comparing the code bytes at the instruction
//! with each program's (code copied elsewhere, like the suite's helper processes, is found by
//! searching the programs' code for those bytes).

mod report;
mod rsp;
mod timing;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::ops::Range;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol};

use crate::build::{self, Artifacts, Profile};
use crate::install::ensure_qemu;
use crate::qemu::{self, Boot};
use crate::symbolize::Symbolizer;
use crate::workspace::Workspace;

pub use report::{Place, Step};
use timing::{Read, Timing};

/// The profile mode's magic word in the begin marker's `rdi` ("tessprof", as
/// `user/benches/src/measure.rs` has it).
const MAGIC: u64 = u64::from_le_bytes(*b"tessprof");
const BEGIN: &str = "tessera_profile_begin";
const END: &str = "tessera_profile_end";
/// The program that runs the benchmarks.
const BENCH_PROGRAM: &str = "bench";
/// Where the bench program names what it profiles (`profiled("NAME", ...)`).
const BENCHES_LIB: &str = "user/benches/src/lib.rs";
/// The lowest kernel address.
const KERNEL_BASE: u64 = 0xffff_8000_0000_0000;
/// The bits of CR3 that are the address-space root.
const CR3_ROOT: u64 = 0x000f_ffff_ffff_f000;
/// Instructions one operation may take before the trace is given up as lost.
const MAX_STEPS: usize = 200_000;
/// How long the benchmarks before the named one may run (they run in full, under -icount).
const BOOT_LIMIT: Duration = Duration::from_secs(900);
/// QEMU's single-step flags with interrupts let through: `SSTEP_ENABLE | SSTEP_NOTIMER`.
const SSTEP_IRQS: u32 = 0x5;
/// Bytes of code compared to tell which program an address space runs.
const PROBE: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileOptions {
    List,
    Case { name: String },
}

/// What a profile found.
#[derive(Debug)]
pub struct Outcome {
    pub total: u64,
    /// The benchmark's figure printed in the same boot, in tenths of an instruction.
    pub figure_tenths: Option<u64>,
    pub report: PathBuf,
}

impl Outcome {
    /// Whether the profile's total is the figure without its fraction: the timed loop also
    /// absorbs timer interrupts (a fraction of an instruction per operation), which the
    /// single-stepped operation does not take.
    pub fn agrees(&self) -> Result<()> {
        let Some(tenths) = self.figure_tenths else {
            bail!("the boot printed no figure for the profiled benchmark");
        };
        if self.total * 10 <= tenths && tenths < (self.total + 1) * 10 {
            Ok(())
        } else {
            bail!(
                "the profile counts {} instructions but the bench's figure is {}.{} ({})",
                self.total,
                tenths / 10,
                tenths % 10,
                self.report.display()
            )
        }
    }
}

pub fn run(options: &ProfileOptions) -> Result<()> {
    let ws = Workspace::load()?;
    match options {
        ProfileOptions::List => {
            for name in profilable(&ws)? {
                println!("{name}");
            }
            println!("(the others are not profilable: docs/BENCHMARKS.md lists them)");
            Ok(())
        }
        ProfileOptions::Case { name } => {
            let outcome = profile(&ws, Profile::Release, name)?;
            println!("wrote {}", outcome.report.display());
            Ok(())
        }
    }
}

/// Profiles benchmark `name` on a `profile` build; prints the summary and writes the report.
pub fn profile(ws: &Workspace, profile: Profile, name: &str) -> Result<Outcome> {
    let names = profilable(ws)?;
    if !names.iter().any(|n| n == name) {
        bail!(
            "`{name}` is not a profilable benchmark; profilable: {}",
            names.join(", ")
        );
    }
    ensure_qemu()?;
    let artifacts = build::build(ws, profile)?;
    // The release profile is the one `cargo xtask profile` shows; `cargo xtask test`'s debug
    // one must not overwrite it.
    let (dir, log) = match profile {
        Profile::Release => (ws.tessera_dir().join("profile"), format!("profile-{name}")),
        Profile::Debug => (
            ws.tessera_dir().join("profile").join("debug"),
            format!("profile-debug-{name}"),
        ),
    };
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let images = images(ws, profile)?;
    let markers = {
        let bench = images
            .iter()
            .find(|i| i.name == BENCH_PROGRAM)
            .context("no bench program was built")?;
        Markers {
            begin: bench.symbol(BEGIN)?,
            end: bench.symbol(END)?,
        }
    };
    let socket = dir.join("gdb.sock");
    let _ = fs::remove_file(&socket);
    let mut boot = Boot::new(&artifacts);
    boot.icount = true;
    boot.append = Some("bench profile".into());
    boot.extra = vec![
        "-gdb".into(),
        format!("unix:{},server=on,wait=off", socket.display()).into(),
        "-S".into(),
    ];
    let log = ws.log_path(&log);
    let mut guest = Guest::start(&boot, &log)?;
    let timing = timing::timing(name);
    let interrupts = match timing {
        Timing::Rounds => Some(interrupt_entries(&artifacts.kernel)?),
        _ => None,
    };
    let traced = trace(&socket, &markers, name, &images, interrupts, &mut guest);
    let figure_line = traced
        .as_ref()
        .ok()
        .and_then(|_| guest.wait_for_line(&format!("bench: {name} "), BOOT_LIMIT));
    guest.stop();
    let (steps, spaces) = traced.with_context(|| format!("the console is in {}", log.display()))?;
    let raw: String = steps
        .iter()
        .map(|s| format!("{:x} {:x} {:x}\n", s.pc, s.cr3, s.rsp))
        .collect();
    let trace_path = dir.join(format!("{name}.trace"));
    fs::write(&trace_path, raw)
        .with_context(|| format!("could not write {}", trace_path.display()))?;
    let bench_cr3 = steps.first().map_or(0, |s| s.cr3);
    let reads = tsc_reads(&steps, images.as_slice(), &spaces, bench_cr3);
    let (iteration, overhead) = timing
        .operation(&steps, &reads)
        .with_context(|| format!("the trace is in {}", trace_path.display()))?;
    let steps = &steps[iteration];
    let places = symbolize(ws, &artifacts, &images, steps, &spaces)?;
    let profiled = report::analyse(steps, &places);
    let figure = figure_line.as_deref().and_then(crate::bench::parse_line);
    let header = report::Header {
        name: name.to_string(),
        boot: format!(
            "{} kernel {}, 1 CPU, `-icount shift=0`, `-append \"bench profile icount\"`",
            match profile {
                Profile::Release => "release",
                Profile::Debug => "debug",
            },
            artifacts.kernel.display()
        ),
        figure: figure.as_ref().map(|f| {
            format!(
                "{} instructions per operation over {} iterations (`{}`)",
                f.instructions_per_op,
                f.iterations,
                figure_line.as_deref().unwrap_or("").trim()
            )
        }),
        commit: commit(&ws.root),
        method: timing.describe().to_string(),
        overhead,
    };
    let path = dir.join(format!("{name}.md"));
    fs::write(&path, report::markdown(&header, &profiled))
        .with_context(|| format!("could not write {}", path.display()))?;
    print!("{}", report::summary(&header, &profiled, 12));
    let figure_tenths = figure
        .as_ref()
        .and_then(|f| f.instructions_per_op.as_f64())
        .map(|v| (v * 10.0).round() as u64);
    Ok(Outcome {
        total: profiled.total - overhead,
        figure_tenths,
        report: path,
    })
}

/// The benchmarks the bench program runs again in profile mode, by the names its
/// `profiled("NAME", ...)` calls give.
pub fn profilable(ws: &Workspace) -> Result<Vec<String>> {
    let path = ws.root.join(BENCHES_LIB);
    let text =
        fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))?;
    Ok(profiled_names(&text))
}

/// The names in the `profiled("NAME"` calls of `source`.
fn profiled_names(source: &str) -> Vec<String> {
    source
        .split("profiled(")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.trim_start().strip_prefix('"')?;
            let name = rest.split('"').next()?;
            (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                .then(|| name.to_string())
        })
        .collect()
}

/// `rdtsc`: every benchmark's timing reads the TSC (`tessera_user::tsc::now`).
const RDTSC: [u8; 2] = [0x0f, 0x31];

/// The TSC reads in user mode in `steps`, by the code of the program each address space runs
/// (any candidate's, while a space is not narrowed down to one).
fn tsc_reads(steps: &[Step], images: &[Image], spaces: &Spaces, bench_cr3: u64) -> Vec<Read> {
    let reads_tsc = |space: &Space, pc: u64| {
        images[space.image].bytes_at(pc.wrapping_add(space.delta), RDTSC.len()) == Some(&RDTSC[..])
    };
    steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.pc < KERNEL_BASE)
        .filter(|(_, s)| {
            let candidates = spaces.get(&s.cr3).map_or(&[][..], Vec::as_slice);
            match one_space(candidates, images) {
                Some(space) => reads_tsc(&space, s.pc),
                None => candidates.iter().any(|c| reads_tsc(c, s.pc)),
            }
        })
        .map(|(at, s)| Read {
            at,
            own: s.cr3 == bench_cr3,
        })
        .collect()
}

fn commit(root: &Path) -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".into(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        })
}

/// The bytes of each vector's entry stub in `trap_stubs` (`kernel/x86_64/src/trap/primary.rs`).
const STUB_BYTES: u64 = 16;

/// Where the kernel's entry stubs of the vectors an interrupt (not an exception) comes through
/// are: `trap_stubs` holds one stub of [`STUB_BYTES`] per vector, the first 32 the
/// exceptions'. An interrupt is delivered at a stub's first byte.
fn interrupt_entries(kernel: &Path) -> Result<Range<u64>> {
    const EXCEPTIONS: u64 = 32;
    const VECTORS: u64 = 256;
    let data = fs::read(kernel).with_context(|| format!("could not read {}", kernel.display()))?;
    let file = object::File::parse(data.as_slice())
        .with_context(|| format!("{} is not an ELF file", kernel.display()))?;
    let stubs = file
        .symbols()
        .find(|s| s.name() == Ok("trap_stubs"))
        .map(|s| s.address())
        .with_context(|| format!("{} has no `trap_stubs`", kernel.display()))?;
    Ok(stubs + EXCEPTIONS * STUB_BYTES..stubs + VECTORS * STUB_BYTES)
}

/// Whether a stop at `pc` is an interrupt's delivery: the first byte of an interrupt vector's
/// stub in `entries` (`interrupt_entries`); an instruction within a stub is not.
fn delivers_interrupt(entries: &Range<u64>, pc: u64) -> bool {
    entries.contains(&pc) && (pc - entries.start).is_multiple_of(STUB_BYTES)
}

/// The bench program's marker functions.
struct Markers {
    begin: u64,
    end: u64,
}

/// A user program's loadable bytes and symbols.
struct Image {
    name: String,
    path: PathBuf,
    /// (address, bytes) of each code section.
    code: Vec<(u64, Vec<u8>)>,
    /// (address, bytes) of each other loaded section with contents (read-only data).
    data: Vec<(u64, Vec<u8>)>,
    symbols: HashMap<String, u64>,
}

impl Image {
    fn load(name: &str, path: &Path) -> Result<Image> {
        let data = fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
        let file = object::File::parse(data.as_slice())
            .with_context(|| format!("{} is not an ELF file", path.display()))?;
        let (code, data) = file
            .sections()
            .filter(|s| s.address() != 0)
            .filter_map(|s| Some((s.kind(), s.address(), s.data().ok()?.to_vec())))
            .filter(|(_, _, bytes)| !bytes.is_empty())
            .partition::<Vec<_>, _>(|(kind, _, _)| *kind == object::SectionKind::Text);
        let strip = |v: Vec<(object::SectionKind, u64, Vec<u8>)>| -> Vec<(u64, Vec<u8>)> {
            v.into_iter().map(|(_, a, b)| (a, b)).collect()
        };
        let symbols = file
            .symbols()
            .filter_map(|s| Some((s.name().ok()?.to_string(), s.address())))
            .collect();
        Ok(Image {
            name: name.to_string(),
            path: path.to_path_buf(),
            code: strip(code),
            data: strip(data),
            symbols,
        })
    }

    fn symbol(&self, name: &str) -> Result<u64> {
        self.symbols.get(name).copied().with_context(|| {
            format!(
                "{} has no `{name}` (is it the profile-mode bench program?)",
                self.path.display()
            )
        })
    }

    fn bytes_at(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.code
            .iter()
            .chain(&self.data)
            .find_map(|(start, bytes)| {
                let off = usize::try_from(addr.checked_sub(*start)?).ok()?;
                bytes.get(off..off + len)
            })
    }

    /// Where `probe` is in this program's code (none when it is there more than `MAX_PLACES`
    /// times: too common to tell anything).
    fn find(&self, probe: &[u8]) -> Vec<u64> {
        let found: Vec<u64> = self
            .code
            .iter()
            .flat_map(|(start, bytes)| {
                bytes
                    .windows(probe.len())
                    .enumerate()
                    .filter(|(_, w)| *w == probe)
                    .map(move |(i, _)| start + i as u64)
            })
            .take(MAX_PLACES + 1)
            .collect();
        if found.len() > MAX_PLACES {
            Vec::new()
        } else {
            found
        }
    }
}

/// The most places one probe of copied code is looked for at.
const MAX_PLACES: usize = 16;

/// Every user program of the build (what the bootfs holds).
fn images(ws: &Workspace, profile: Profile) -> Result<Vec<Image>> {
    let out = build::output_dir(ws, profile);
    ws.programs
        .iter()
        .flat_map(|p| &p.bins)
        .map(|bin| Image::load(bin, &out.join(bin)))
        .collect()
}

/// Which program an address space runs: the image and how far its code is from where the
/// image has it (0 unless the code was copied elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Space {
    image: usize,
    delta: u64,
}

/// The programs whose code matches `probe` read at `pc`: at the same address if any does,
/// else everywhere their code has it (the address space is narrowed down to one by later
/// probes, as copied code keeps one distance to its original).
fn candidates(images: &[Image], pc: u64, probe: &[u8]) -> Vec<Space> {
    let same: Vec<Space> = images
        .iter()
        .enumerate()
        .filter(|(_, i)| i.bytes_at(pc, probe.len()) == Some(probe))
        .map(|(image, _)| Space { image, delta: 0 })
        .collect();
    if !same.is_empty() {
        return same;
    }
    images
        .iter()
        .enumerate()
        .flat_map(|(image, i)| {
            i.find(probe).into_iter().map(move |at| Space {
                image,
                delta: at.wrapping_sub(pc),
            })
        })
        .collect()
}

/// What the trace learnt of each user address space: the candidates left (one once known).
type Spaces = HashMap<u64, Vec<Space>>;

/// Single-steps one operation of benchmark `name`.
fn trace(
    socket: &Path,
    markers: &Markers,
    name: &str,
    images: &[Image],
    interrupts: Option<Range<u64>>,
    guest: &mut Guest,
) -> Result<(Vec<Step>, Spaces)> {
    let stream = connect(socket, guest)?;
    stream.set_read_timeout(Some(BOOT_LIMIT))?;
    let mut gdb = rsp::Client::new(stream)?;
    gdb.request("qSupported:xmlRegisters=i386")?;
    gdb.request("?")?;
    let target = gdb.features("target.xml")?;
    let names = ["rip", "rsp", "rdi", "rsi", "rdx", "cr0", "cr3", "efer"];
    let numbers = rsp::register_numbers(&target, &mut |href| gdb.features(href), &names)?;
    let [rip, rsp_reg, rdi, rsi, rdx, cr0, cr3_described, efer] = numbers[..] else {
        bail!("register numbers missing");
    };
    let mut seen: Vec<String> = Vec::new();
    let bench = images
        .iter()
        .find(|i| i.name == BENCH_PROGRAM)
        .context("no bench image")?;
    run_to(&mut gdb, markers.begin, |gdb| {
        if gdb.register(rdi)? != MAGIC {
            return Ok(false);
        }
        // The name is in the bench program's read-only data, whose page may not be mapped yet.
        let (at, len) = (gdb.register(rsi)?, gdb.register(rdx)?);
        let hit = bench
            .bytes_at(at, len.min(64) as usize)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        if hit == name {
            return Ok(true);
        }
        seen.push(hit);
        Ok(false)
    })
    .with_context(|| {
        format!("benchmark `{name}` never reached its marker; markers seen: {seen:?}")
    })?;
    let cr3_reg = cr3_number(&mut gdb, cr0, cr3_described, efer)?;
    let bench_cr3 = gdb.register(cr3_reg)? & CR3_ROOT;
    let sp = gdb.register(rsp_reg)?;
    let back = gdb
        .memory(sp, 8)?
        .context("the begin marker's return address is unreadable")?;
    let back = u64::from_le_bytes(back[..8].try_into()?);
    run_to(&mut gdb, back, |gdb| {
        Ok(gdb.register(cr3_reg)? & CR3_ROOT == bench_cr3)
    })?;
    if interrupts.is_some() {
        // The stub's single step masks interrupts and timers by default; the device interrupt
        // the benchmark raises must come through (timers stay stopped: none fires mid-step).
        let reply = gdb.request(&format!("Qqemu.sstep={SSTEP_IRQS:x}"))?;
        if reply != b"OK" {
            bail!(
                "the gdb stub refused to let interrupts through a single step: {}",
                String::from_utf8_lossy(&reply)
            );
        }
    }
    let mut steps: Vec<Step> = Vec::new();
    let mut spaces: Spaces = HashMap::new();
    loop {
        let step = Step {
            pc: gdb.register(rip)?,
            cr3: gdb.register(cr3_reg)? & CR3_ROOT,
            rsp: gdb.register(rsp_reg)?,
        };
        if step.pc == markers.end && step.cr3 == bench_cr3 {
            break;
        }
        if interrupts
            .as_ref()
            .is_some_and(|r| delivers_interrupt(r, step.pc))
        {
            // The stub stops once an interrupt is delivered, before the instruction at the
            // last stop ran (it runs after the return): that stop was no instruction.
            steps.pop();
        }
        if step.pc < KERNEL_BASE && step.cr3 != bench_cr3 {
            learn(&mut gdb, images, &mut spaces, step)?;
        }
        steps.push(step);
        if steps.len() > MAX_STEPS {
            bail!("no end marker within {MAX_STEPS} instructions");
        }
        if let rsp::Stop::Exited(code) = gdb.step()? {
            bail!("the guest ended (status {code}) while being stepped");
        }
    }
    // The call into the end marker is the marker's, not the operation's.
    steps.pop();
    let bench = images
        .iter()
        .position(|i| i.name == BENCH_PROGRAM)
        .context("no bench image")?;
    spaces.insert(
        bench_cr3,
        vec![Space {
            image: bench,
            delta: 0,
        }],
    );
    // Let the guest go on to print the figure; no reply is awaited.
    gdb.send("c")?;
    Ok((steps, spaces))
}

/// The number QEMU's stub really answers CR3 under. QEMU 7.2 describes three registers
/// (`ss_base`, `ds_base`, `es_base`) before `fs_base` that its stub does not number, so every
/// register from there on answers three numbers lower than described. Which numbering holds is
/// checked on the registers themselves, in long mode with paging: CR0 has PG and PE set and no
/// high bits, EFER has LMA set.
fn cr3_number<S: std::io::Read + std::io::Write>(
    gdb: &mut rsp::Client<S>,
    cr0: usize,
    cr3: usize,
    efer: usize,
) -> Result<usize> {
    const PG_PE: u64 = 0x8000_0001;
    const LMA: u64 = 1 << 10;
    for lower in [0, 3] {
        let (c0, e) = (gdb.register(cr0 - lower)?, gdb.register(efer - lower)?);
        if c0 & PG_PE == PG_PE && c0 >> 32 == 0 && e & LMA != 0 && e >> 16 == 0 {
            return Ok(cr3 - lower);
        }
    }
    bail!("the gdb stub's control registers are neither where its description says nor three lower")
}

/// Runs until the guest executes `addr` and `wanted` says the stop is the one; the guest is
/// left stopped there. A breakpoint is by virtual address in every address space, so other
/// programs' code at `addr` stops here too (and so does an instruction fetch that faults, once
/// before and once after the kernel maps the page).
fn run_to<S: std::io::Read + std::io::Write>(
    gdb: &mut rsp::Client<S>,
    addr: u64,
    mut wanted: impl FnMut(&mut rsp::Client<S>) -> Result<bool>,
) -> Result<()> {
    loop {
        // QEMU stops again at once when resumed at a breakpoint: step off it first.
        gdb.step()?;
        gdb.insert_breakpoint(addr)?;
        let stop = gdb.resume()?;
        gdb.remove_breakpoint(addr)?;
        if let rsp::Stop::Exited(code) = stop {
            bail!("the guest ended (status {code})");
        }
        if wanted(gdb)? {
            return Ok(());
        }
    }
}

/// Narrows down which program runs in `step`'s address space, reading its code at `pc`.
fn learn<S: std::io::Read + std::io::Write>(
    gdb: &mut rsp::Client<S>,
    images: &[Image],
    spaces: &mut Spaces,
    step: Step,
) -> Result<()> {
    if spaces.get(&step.cr3).is_some_and(|c| c.len() == 1) {
        return Ok(());
    }
    let Some(probe) = gdb.memory(step.pc, PROBE)? else {
        return Ok(());
    };
    // Code copied into a page may end within the probe: the page goes on with zeros.
    let found = [PROBE, PROBE / 2, PROBE / 4]
        .into_iter()
        .map(|n| candidates(images, step.pc, &probe[..n]))
        .find(|c| !c.is_empty())
        .unwrap_or_default();
    let known = spaces.entry(step.cr3).or_default();
    let narrowed: Vec<Space> = known
        .iter()
        .filter(|s| found.contains(s))
        .copied()
        .collect();
    if known.is_empty() {
        *known = found;
    } else if !narrowed.is_empty() {
        *known = narrowed;
    }
    Ok(())
}

/// The one program an address space's candidates leave; among several, the bench program's
/// own (code of a library it shares with other programs, the suite's helpers, runs in a space
/// the bench program made).
fn one_space(candidates: &[Space], images: &[Image]) -> Option<Space> {
    match candidates {
        [one] => Some(*one),
        _ => {
            let mut own = candidates
                .iter()
                .filter(|s| images[s.image].name == BENCH_PROGRAM);
            let first = own.next()?;
            own.next().is_none().then_some(*first)
        }
    }
}

/// Where each step is.
fn symbolize(
    ws: &Workspace,
    artifacts: &Artifacts,
    images: &[Image],
    steps: &[Step],
    spaces: &Spaces,
) -> Result<Vec<Place>> {
    let kernel = Symbolizer::from_elf(&artifacts.kernel, &ws.root)?;
    let mut users: HashMap<usize, Symbolizer> = HashMap::new();
    let bench_cr3 = steps.first().map(|s| s.cr3);
    let mut places = Vec::with_capacity(steps.len());
    for step in steps {
        if step.pc >= KERNEL_BASE {
            let (function, sized) = kernel
                .function_at(step.pc)
                .map_or((format!("{:#x}", step.pc), false), |(f, s)| {
                    (f.to_string(), s)
                });
            places.push(Place {
                part: if sized { "kernel Rust" } else { "kernel asm" }.into(),
                function,
                inlined: kernel.inline_frames(step.pc),
                kernel: true,
            });
            continue;
        }
        let space = spaces.get(&step.cr3).and_then(|c| one_space(c, images));
        let Some(space) = space else {
            places.push(Place {
                part: format!("user (cr3 {:#x})", step.cr3),
                function: format!("{:#x}", step.pc),
                inlined: Vec::new(),
                kernel: false,
            });
            continue;
        };
        let image = &images[space.image];
        if let std::collections::hash_map::Entry::Vacant(e) = users.entry(space.image) {
            e.insert(Symbolizer::from_elf(&image.path, &ws.root)?);
        }
        let symbols = &users[&space.image];
        let at = step.pc.wrapping_add(space.delta);
        let part = if Some(step.cr3) == bench_cr3 || image.name != BENCH_PROGRAM {
            image.name.clone()
        } else {
            format!("{} (helper process)", image.name)
        };
        places.push(Place {
            part,
            function: symbols
                .function_at(at)
                .map_or(format!("{at:#x}"), |(f, _)| f.to_string()),
            inlined: symbols.inline_frames(at),
            kernel: false,
        });
    }
    Ok(places)
}

/// Connects to QEMU's gdb socket once QEMU has made it.
fn connect(socket: &Path, guest: &mut Guest) -> Result<UnixStream> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match UnixStream::connect(socket) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() > deadline => {
                return Err(e).with_context(|| format!("no gdb stub at {}", socket.display()))
            }
            Err(_) => {
                if let Some(status) = guest.child.try_wait()? {
                    bail!("QEMU ended before its gdb stub was up ({status})");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// QEMU running, its console logged and passed on line by line.
struct Guest {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Guest {
    fn start(boot: &Boot, log: &Path) -> Result<Guest> {
        let file = qemu::create_log(log)?;
        let mut child = qemu::spawn(boot, Stdio::null(), Stdio::from(file.try_clone()?))?;
        let stdout = child
            .stdout
            .take()
            .context("QEMU's stdout was not captured")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut file = file;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(file, "{line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Guest { child, lines })
    }

    /// The first console line holding `needle`, if one comes within `limit`.
    fn wait_for_line(&mut self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            if line.contains(needle) {
                return Some(line);
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_total_agrees_with_the_figure_without_its_fraction() {
        let outcome = |total, figure_tenths| Outcome {
            total,
            figure_tenths,
            report: PathBuf::new(),
        };
        assert!(outcome(515, Some(5150)).agrees().is_ok());
        assert!(outcome(515, Some(5159)).agrees().is_ok());
        assert!(outcome(515, Some(5160)).agrees().is_err());
        assert!(outcome(516, Some(5159)).agrees().is_err());
        assert!(outcome(515, None).agrees().is_err());
    }

    #[test]
    fn profiled_names_are_found_in_source() {
        let src = r#"
            profiled("null_invocation", || {});
            profiled(
                "call_reply",
                || {},
            );
            pub fn profiled(name: &str, bench: impl FnOnce()) {}
            profiled(name, f);
        "#;
        assert_eq!(profiled_names(src), ["null_invocation", "call_reply"]);
    }

    #[test]
    fn an_interrupt_is_delivered_at_a_stub_start_past_the_exceptions() {
        let stubs = 0xffff_ffff_8013_03a0u64;
        let entries = stubs + 32 * STUB_BYTES..stubs + 256 * STUB_BYTES;
        assert!(delivers_interrupt(&entries, stubs + 32 * STUB_BYTES));
        assert!(delivers_interrupt(&entries, stubs + 0x24 * STUB_BYTES));
        assert!(delivers_interrupt(&entries, stubs + 255 * STUB_BYTES));
        assert!(
            !delivers_interrupt(&entries, stubs + 0x24 * STUB_BYTES + 2),
            "the stub's second instruction"
        );
        assert!(
            !delivers_interrupt(&entries, stubs + 14 * STUB_BYTES),
            "an exception's stub"
        );
        assert!(
            !delivers_interrupt(&entries, stubs + 256 * STUB_BYTES),
            "past the stubs (`trap_common`)"
        );
    }

    fn image(name: &str, start: u64, bytes: &[u8]) -> Image {
        Image {
            name: name.into(),
            path: PathBuf::from(name),
            code: vec![(start, bytes.to_vec())],
            data: Vec::new(),
            symbols: HashMap::new(),
        }
    }

    #[test]
    fn programs_are_told_apart_by_their_code() {
        let images = [
            image("bench", 0x1000, &[1, 2, 3, 4, 5, 6, 7, 8]),
            image("echo", 0x1000, &[1, 2, 9, 9, 5, 6, 7, 8]),
        ];
        assert_eq!(
            candidates(&images, 0x1004, &[5, 6]),
            [Space { image: 0, delta: 0 }, Space { image: 1, delta: 0 }],
            "the same bytes at the same address in both"
        );
        assert_eq!(
            candidates(&images, 0x1002, &[3, 4]),
            [Space { image: 0, delta: 0 }]
        );
        assert_eq!(
            candidates(&images, 0x50_0000, &[9, 5]),
            [Space {
                image: 1,
                delta: 0x1003u64.wrapping_sub(0x50_0000)
            }],
            "copied code is found where its image has it"
        );
        assert!(candidates(&images, 0x1000, &[7, 7]).is_empty());
        assert_eq!(
            candidates(&images, 0x50_0000, &[5, 6]).len(),
            2,
            "found in both, each a candidate until another probe tells"
        );
    }
}
