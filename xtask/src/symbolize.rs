//! Turns kernel addresses in console output into `symbol+0xoff at file:line`.
//!
//! Guarantees: only addresses in the kernel image range (`0xffffffff80000000` and up) that
//! follow a marker the kernel prints (`RIP`, `fn`, or a frame number `#N`) are annotated, so
//! data that merely looks like an address is left alone; a line is never altered, only
//! extended. Frame `#0` is the faulting or current RIP and is looked up exactly; frames `#1`
//! and up are return addresses, so their symbol and line are looked up at the byte before them
//! (inside the call), while the printed offset is from the address itself.
//! Assumes: the ELF given is the one that produced the output (same build).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use addr2line::gimli;
use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol};

use crate::build::{kernel_path, Profile};
use crate::workspace::Workspace;

/// The lowest address the kernel image can occupy (the top 2 GiB).
const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;

type Reader = gimli::EndianRcSlice<gimli::RunTimeEndian>;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Symbol {
    start: u64,
    /// Zero for assembly labels, which then extend to the next symbol.
    size: u64,
    name: String,
}

pub struct Symbolizer {
    /// Sorted by start, then by size, so the last candidate at an address is the largest.
    symbols: Vec<Symbol>,
    lines: Option<addr2line::Context<Reader>>,
    /// Stripped from source paths so locations read `kernel/x86_64/src/...`.
    source_root: PathBuf,
}

impl Symbolizer {
    /// Reads the symbol table and, when present, the DWARF line tables of an ELF file.
    pub fn from_elf(path: &Path, source_root: &Path) -> Result<Self> {
        let data =
            std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
        let file = object::File::parse(data.as_slice())
            .with_context(|| format!("{} is not an ELF file", path.display()))?;
        let symbols = file
            .symbols()
            .filter(|s| {
                let code = match s.kind() {
                    object::SymbolKind::Text => true,
                    // Labels of `global_asm!` code carry no type; their section tells.
                    object::SymbolKind::Unknown => s
                        .section_index()
                        .and_then(|i| file.section_by_index(i).ok())
                        .is_some_and(|sec| sec.kind() == object::SectionKind::Text),
                    _ => false,
                };
                code && s.is_definition() && s.address() != 0
            })
            .filter_map(|s| {
                let name = s.name().ok()?;
                Some((
                    s.address(),
                    s.size(),
                    format!("{:#}", rustc_demangle::demangle(name)),
                ))
            })
            .collect();
        let mut symbolizer = Self::from_symbols(symbols, source_root);
        symbolizer.lines = load_dwarf(&file).ok();
        Ok(symbolizer)
    }

    pub(crate) fn from_symbols(symbols: Vec<(u64, u64, String)>, source_root: &Path) -> Self {
        let mut symbols: Vec<Symbol> = symbols
            .into_iter()
            .map(|(start, size, name)| Symbol { start, size, name })
            .collect();
        symbols.sort_by_key(|s| (s.start, s.size));
        Symbolizer {
            symbols,
            lines: None,
            source_root: source_root.to_path_buf(),
        }
    }

    /// What to append to `line`, or `None` when it holds no kernel address to explain.
    pub fn annotate(&self, line: &str) -> Option<String> {
        let notes: Vec<String> = kernel_addresses(line)
            .into_iter()
            .filter_map(|(addr, is_return)| self.describe(addr, is_return))
            .collect();
        (!notes.is_empty()).then(|| notes.join(" "))
    }

    fn describe(&self, addr: u64, is_return: bool) -> Option<String> {
        let probe = if is_return {
            addr.wrapping_sub(1)
        } else {
            addr
        };
        let symbol = self
            .symbol_at(probe)
            .map(|s| format!("{}+{:#x}", s.name, addr - s.start));
        let location = self.location_at(probe);
        match (symbol, location) {
            (Some(s), Some(l)) => Some(format!("{s} at {l}")),
            (Some(s), None) => Some(s),
            (None, Some(l)) => Some(format!("at {l}")),
            (None, None) => None,
        }
    }

    /// The function (symbol) holding `addr`: its name, and whether the symbol has a size
    /// (an assembly label has none).
    pub(crate) fn function_at(&self, addr: u64) -> Option<(&str, bool)> {
        self.symbol_at(addr).map(|s| (s.name.as_str(), s.size != 0))
    }

    /// The functions the DWARF inline information places at `addr`, innermost first: those
    /// inlined there, then the function they were inlined into. Empty without DWARF.
    pub(crate) fn inline_frames(&self, addr: u64) -> Vec<String> {
        let Some(mut frames) = self
            .lines
            .as_ref()
            .and_then(|l| l.find_frames(addr).skip_all_loads().ok())
        else {
            return Vec::new();
        };
        let mut names = Vec::new();
        while let Ok(Some(frame)) = frames.next() {
            if let Some(name) = frame.function.as_ref().and_then(|f| f.raw_name().ok()) {
                names.push(format!("{:#}", rustc_demangle::demangle(&name)));
            }
        }
        names
    }

    fn symbol_at(&self, addr: u64) -> Option<&Symbol> {
        let after = self.symbols.partition_point(|s| s.start <= addr);
        let symbol = self.symbols[..after].last()?;
        (symbol.size == 0 || addr - symbol.start < symbol.size).then_some(symbol)
    }

    /// The source line at `addr`: of the innermost inlined frame that is workspace code, so a
    /// `read_volatile` inlined into a kernel function points at the kernel's line, not libcore's.
    fn location_at(&self, addr: u64) -> Option<String> {
        let mut frames = self
            .lines
            .as_ref()?
            .find_frames(addr)
            .skip_all_loads()
            .ok()?;
        let mut innermost = None;
        while let Ok(Some(frame)) = frames.next() {
            let Some(location) = frame.location else {
                continue;
            };
            let Some(file) = location.file.map(Path::new) else {
                continue;
            };
            let ours = file.strip_prefix(&self.source_root).ok();
            let shown = ours.unwrap_or(file).display();
            let text = match location.line {
                Some(line) => format!("{shown}:{line}"),
                None => shown.to_string(),
            };
            if ours.is_some() {
                return Some(text);
            }
            innermost.get_or_insert(text);
        }
        innermost
    }
}

/// Addresses worth explaining in `line`, each with whether it is a return address.
fn kernel_addresses(line: &str) -> Vec<(u64, bool)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut found = Vec::new();
    for pair in words.windows(2) {
        let marker = pair[0].trim_end_matches([':', '=']);
        let frame = marker
            .strip_prefix('#')
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if frame.is_none() && marker != "RIP" && marker != "fn" {
            continue;
        }
        let is_return = frame.is_some_and(|n| !n.trim_start_matches('0').is_empty());
        let value = pair[1].trim_end_matches([',', ':', ';', ')']);
        let Some(hex) = value.strip_prefix("0x") else {
            continue;
        };
        if let Ok(addr) = u64::from_str_radix(hex, 16) {
            if addr >= KERNEL_BASE {
                found.push((addr, is_return));
            }
        }
    }
    found
}

fn load_dwarf(file: &object::File<'_>) -> Result<addr2line::Context<Reader>> {
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
        let data: Rc<[u8]> = file
            .section_by_name(id.name())
            .and_then(|s| s.data().ok())
            .unwrap_or_default()
            .into();
        Ok(gimli::EndianRcSlice::new(data, endian))
    };
    let dwarf = gimli::Dwarf::load(load)?;
    Ok(addr2line::Context::from_dwarf(dwarf)?)
}

/// `cargo xtask symbolize`: annotates a saved log read from stdin with the built kernel.
pub fn filter_stdin(profile: Profile) -> Result<()> {
    let ws = Workspace::load()?;
    let kernel = kernel_path(&ws, profile);
    let symbolizer = Symbolizer::from_elf(&kernel, &ws.root)
        .context("build the kernel first (`cargo xtask build`)")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("could not read stdin")?;
        match symbolizer.annotate(&line) {
            Some(note) => writeln!(out, "{line} {note}")?,
            None => writeln!(out, "{line}")?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u64 = 0xffff_ffff_8010_0000;

    fn synthetic() -> Symbolizer {
        Symbolizer::from_symbols(
            vec![
                (F + 0x100, 0x40, "tessera_kernel::trap::page_fault".into()),
                (F, 0x100, "tessera_kernel::main".into()),
                (F + 0x200, 0, "boot_long_mode".into()),
                (F + 0x300, 0x10, "alias_small".into()),
                (F + 0x300, 0x20, "tessera_kernel::panic::handler".into()),
            ],
            Path::new("/ws"),
        )
    }

    #[test]
    fn rip_is_looked_up_exactly() {
        let s = synthetic();
        assert_eq!(
            s.annotate("  RIP 0xffffffff80100100").as_deref(),
            Some("tessera_kernel::trap::page_fault+0x0")
        );
        assert_eq!(
            s.annotate("RIP: 0xffffffff80100005").as_deref(),
            Some("tessera_kernel::main+0x5")
        );
    }

    #[test]
    fn frames_are_return_addresses_looked_up_one_byte_back() {
        let s = synthetic();
        assert_eq!(
            s.annotate("  #3 0xffffffff80100100").as_deref(),
            Some("tessera_kernel::main+0x100"),
            "a call ending a function returns to the next one's first byte"
        );
        assert_eq!(
            s.annotate("    #12 0xffffffff80100120").as_deref(),
            Some("tessera_kernel::trap::page_fault+0x20")
        );
    }

    #[test]
    fn frame_zero_is_the_current_rip_looked_up_exactly() {
        assert_eq!(
            synthetic().annotate("    #0 0xffffffff80100100").as_deref(),
            Some("tessera_kernel::trap::page_fault+0x0")
        );
    }

    #[test]
    fn the_largest_symbol_at_an_address_wins_and_sizes_bound_it() {
        let s = synthetic();
        assert_eq!(
            s.annotate("fn 0xffffffff80100318").as_deref(),
            Some("tessera_kernel::panic::handler+0x18")
        );
        assert_eq!(
            s.annotate("fn 0xffffffff80100340"),
            None,
            "past the end of a sized symbol"
        );
        assert_eq!(
            s.annotate("fn 0xffffffff80100150"),
            None,
            "in the gap after page_fault"
        );
    }

    #[test]
    fn unsized_labels_extend_to_the_next_symbol() {
        let s = synthetic();
        assert_eq!(
            s.annotate("RIP 0xffffffff802fffff"),
            None,
            "beyond every symbol but a sized one"
        );
        assert_eq!(
            s.annotate("RIP 0xffffffff80100280").as_deref(),
            Some("boot_long_mode+0x80")
        );
    }

    #[test]
    fn several_addresses_on_one_line_are_all_explained() {
        let s = synthetic();
        assert_eq!(
            s.annotate("RIP 0xffffffff80100001, fn 0xffffffff80100101")
                .as_deref(),
            Some("tessera_kernel::main+0x1 tessera_kernel::trap::page_fault+0x1")
        );
    }

    #[test]
    fn lines_without_marked_kernel_addresses_are_left_alone() {
        let s = synthetic();
        for line in [
            "hello from tessera, start_info=0x1000",
            "RSP 0xffffffff80100001",
            "RIP 0x0000000000401000",
            "RIP",
            "#3",
            "# 0xffffffff80100001",
            "#x1 0xffffffff80100001",
            "RIP 0xnothex",
            "RIP 0xffffffff80100001ffff",
            "ktest: cap::derive ... ok",
            "",
        ] {
            assert_eq!(s.annotate(line), None, "{line:?} was annotated");
        }
    }

    #[test]
    fn addresses_below_any_symbol_are_not_explained() {
        assert_eq!(synthetic().annotate("RIP 0xffffffff80000000"), None);
    }

    #[test]
    fn a_real_elf_resolves_its_own_functions() {
        let exe = std::env::current_exe().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let s = Symbolizer::from_elf(&exe, root).unwrap();
        assert!(!s.symbols.is_empty());
        let main = s
            .symbols
            .iter()
            .find(|sym| sym.name.ends_with("xtask::main") && sym.size > 0);
        let main = main.expect("xtask::main in the symbol table");
        assert_eq!(
            s.symbol_at(main.start + 1).map(|sym| &sym.name),
            Some(&main.name)
        );
        let lines: Vec<String> = (main.start..main.start + main.size)
            .filter_map(|a| s.location_at(a))
            .collect();
        assert!(
            lines.iter().any(|l| l.starts_with("xtask/src/main.rs:")),
            "no line of xtask::main maps to main.rs with a line number: {lines:?}"
        );
    }

    #[test]
    fn inline_frames_end_in_the_function_they_are_inlined_into() {
        let exe = std::env::current_exe().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let s = Symbolizer::from_elf(&exe, root).unwrap();
        let main = s
            .symbols
            .iter()
            .find(|sym| sym.name.ends_with("xtask::main") && sym.size > 0)
            .unwrap();
        assert_eq!(s.function_at(main.start), Some((main.name.as_str(), true)));
        let outermost: Vec<String> = (main.start..main.start + main.size)
            .filter_map(|a| s.inline_frames(a).pop())
            .collect();
        assert!(!outermost.is_empty(), "no DWARF frames in xtask::main");
        assert!(
            outermost.iter().all(|f| f.ends_with("xtask::main")),
            "{outermost:?}"
        );
    }

    #[test]
    fn a_file_that_is_not_elf_is_refused() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert!(Symbolizer::from_elf(&path, Path::new("/")).is_err());
    }
}
