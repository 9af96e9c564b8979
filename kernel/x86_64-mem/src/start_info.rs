//! The PVH boot information (`hvm_start_info`, Xen's public `arch-x86/hvm/start_info.h`):
//! command line, boot modules (our bootfs archive arrives as the first module) and the memory
//! map. Parsed from a byte-reading closure so the host tests feed it synthetic memory.
//!
//! Invariant: nothing here trusts the structure beyond its own bounds — a bad magic, version or
//! entry count is an error, never an out-of-bounds read.

pub const START_INFO_MAGIC: u32 = 0x336e_c578;
/// The most memory-map entries we accept; QEMU passes a handful.
pub const MAX_MEMMAP: usize = 64;
pub const MAX_MODULES: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    Usable,
    Reserved,
    AcpiReclaimable,
    AcpiNvs,
    Unusable,
}

impl MemoryKind {
    /// E820 types, as the PVH memory map uses them.
    pub fn from_e820(t: u32) -> Self {
        match t {
            1 => MemoryKind::Usable,
            3 => MemoryKind::AcpiReclaimable,
            4 => MemoryKind::AcpiNvs,
            5 => MemoryKind::Unusable,
            _ => MemoryKind::Reserved,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    pub start: u64,
    pub len: u64,
    pub kind: MemoryKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module {
    pub start: u64,
    pub len: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootInfo {
    pub cmdline_paddr: u64,
    pub rsdp_paddr: u64,
    pub memory: [MemoryRegion; MAX_MEMMAP],
    pub memory_len: usize,
    pub modules: [Module; MAX_MODULES],
    pub modules_len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    BadMagic(u32),
    NoMemoryMap { version: u32 },
    TooManyMemoryRegions(u32),
}

/// Reads `len` bytes of physical memory at an address; `None` when the range is not readable.
pub trait PhysReader {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> Option<()>;
}

fn u32_at(mem: &impl PhysReader, pa: u64) -> Option<u32> {
    let mut b = [0u8; 4];
    mem.read(pa, &mut b)?;
    Some(u32::from_le_bytes(b))
}

fn u64_at(mem: &impl PhysReader, pa: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    mem.read(pa, &mut b)?;
    Some(u64::from_le_bytes(b))
}

const EMPTY_REGION: MemoryRegion = MemoryRegion {
    start: 0,
    len: 0,
    kind: MemoryKind::Reserved,
};

impl BootInfo {
    /// Parses `hvm_start_info` at `paddr`. Unreadable memory yields `BadMagic(0)`.
    pub fn parse(mem: &impl PhysReader, paddr: u64) -> Result<BootInfo, BootInfoError> {
        let magic = u32_at(mem, paddr).unwrap_or(0);
        if magic != START_INFO_MAGIC {
            return Err(BootInfoError::BadMagic(magic));
        }
        let rd32 = |off: u64| u32_at(mem, paddr + off).unwrap_or(0);
        let rd64 = |off: u64| u64_at(mem, paddr + off).unwrap_or(0);
        let version = rd32(4);
        let nr_modules = rd32(12);
        let modlist = rd64(16);
        let cmdline_paddr = rd64(24);
        let rsdp_paddr = rd64(32);
        if version < 1 {
            return Err(BootInfoError::NoMemoryMap { version });
        }
        let memmap = rd64(40);
        let memmap_entries = rd32(48);
        if memmap_entries as usize > MAX_MEMMAP {
            return Err(BootInfoError::TooManyMemoryRegions(memmap_entries));
        }
        let mut info = BootInfo {
            cmdline_paddr,
            rsdp_paddr,
            memory: [EMPTY_REGION; MAX_MEMMAP],
            memory_len: 0,
            modules: [Module { start: 0, len: 0 }; MAX_MODULES],
            modules_len: 0,
        };
        for i in 0..memmap_entries as u64 {
            // struct hvm_memmap_table_entry { u64 addr; u64 size; u32 type; u32 reserved; }
            let e = memmap + i * 24;
            let (Some(start), Some(len), Some(t)) =
                (u64_at(mem, e), u64_at(mem, e + 8), u32_at(mem, e + 16))
            else {
                break;
            };
            info.memory[info.memory_len] = MemoryRegion {
                start,
                len,
                kind: MemoryKind::from_e820(t),
            };
            info.memory_len += 1;
        }
        for i in 0..(nr_modules as usize).min(MAX_MODULES) as u64 {
            // struct hvm_modlist_entry { u64 paddr; u64 size; u64 cmdline_paddr; u64 reserved; }
            let e = modlist + i * 32;
            let (Some(start), Some(len)) = (u64_at(mem, e), u64_at(mem, e + 8)) else {
                break;
            };
            info.modules[info.modules_len] = Module { start, len };
            info.modules_len += 1;
        }
        Ok(info)
    }

    pub fn memory(&self) -> &[MemoryRegion] {
        &self.memory[..self.memory_len]
    }

    pub fn modules(&self) -> &[Module] {
        &self.modules[..self.modules_len]
    }

    /// The highest physical address of any usable region.
    pub fn top_of_ram(&self) -> u64 {
        self.memory()
            .iter()
            .filter(|r| r.kind == MemoryKind::Usable)
            .map(|r| r.start + r.len)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct FakeMem(BTreeMap<u64, u8>);
    impl FakeMem {
        fn put(&mut self, pa: u64, bytes: &[u8]) {
            for (i, b) in bytes.iter().enumerate() {
                self.0.insert(pa + i as u64, *b);
            }
        }
    }
    impl PhysReader for FakeMem {
        fn read(&self, pa: u64, buf: &mut [u8]) -> Option<()> {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = *self.0.get(&(pa + i as u64))?;
            }
            Some(())
        }
    }

    fn start_info(version: u32, entries: &[(u64, u64, u32)], modules: &[(u64, u64)]) -> FakeMem {
        let mut m = FakeMem(BTreeMap::new());
        let base = 0x1000u64;
        m.put(base, &START_INFO_MAGIC.to_le_bytes());
        m.put(base + 4, &version.to_le_bytes());
        m.put(base + 8, &0u32.to_le_bytes());
        m.put(base + 12, &(modules.len() as u32).to_le_bytes());
        m.put(base + 16, &0x3000u64.to_le_bytes());
        m.put(base + 24, &0x4000u64.to_le_bytes());
        m.put(base + 32, &0xf_0000u64.to_le_bytes());
        m.put(base + 40, &0x2000u64.to_le_bytes());
        m.put(base + 48, &(entries.len() as u32).to_le_bytes());
        m.put(base + 52, &0u32.to_le_bytes());
        for (i, (a, s, t)) in entries.iter().enumerate() {
            let e = 0x2000 + i as u64 * 24;
            m.put(e, &a.to_le_bytes());
            m.put(e + 8, &s.to_le_bytes());
            m.put(e + 16, &t.to_le_bytes());
            m.put(e + 20, &0u32.to_le_bytes());
        }
        for (i, (a, s)) in modules.iter().enumerate() {
            let e = 0x3000 + i as u64 * 32;
            m.put(e, &a.to_le_bytes());
            m.put(e + 8, &s.to_le_bytes());
            m.put(e + 16, &[0u8; 16]);
        }
        m
    }

    #[test]
    fn parses_memory_map_modules_and_cmdline() {
        let m = start_info(
            1,
            &[
                (0, 0x9fc00, 1),
                (0x100000, 0x7ee0000, 1),
                (0xfeffc000, 0x4000, 2),
            ],
            &[(0x800000, 4096)],
        );
        let info = BootInfo::parse(&m, 0x1000).unwrap();
        assert_eq!(info.memory().len(), 3);
        assert_eq!(
            info.memory()[1],
            MemoryRegion {
                start: 0x100000,
                len: 0x7ee0000,
                kind: MemoryKind::Usable
            }
        );
        assert_eq!(info.memory()[2].kind, MemoryKind::Reserved);
        assert_eq!(
            info.modules(),
            &[Module {
                start: 0x800000,
                len: 4096
            }]
        );
        assert_eq!(info.cmdline_paddr, 0x4000);
        assert_eq!(info.rsdp_paddr, 0xf_0000);
        assert_eq!(info.top_of_ram(), 0x7fe0000);
    }

    #[test]
    fn refuses_bad_magic_old_version_and_oversized_map() {
        let mut m = start_info(1, &[], &[]);
        m.put(0x1000, &0xdead_beefu32.to_le_bytes());
        assert_eq!(
            BootInfo::parse(&m, 0x1000),
            Err(BootInfoError::BadMagic(0xdead_beef))
        );
        let m = start_info(0, &[(0, 4096, 1)], &[]);
        assert_eq!(
            BootInfo::parse(&m, 0x1000),
            Err(BootInfoError::NoMemoryMap { version: 0 })
        );
        let big: Vec<_> = (0..MAX_MEMMAP as u64 + 1)
            .map(|i| (i << 20, 4096, 1))
            .collect();
        let m = start_info(1, &big, &[]);
        assert_eq!(
            BootInfo::parse(&m, 0x1000),
            Err(BootInfoError::TooManyMemoryRegions(MAX_MEMMAP as u32 + 1))
        );
        assert_eq!(
            BootInfo::parse(&m, 0x9999_0000),
            Err(BootInfoError::BadMagic(0))
        );
    }

    #[test]
    fn truncated_memory_map_stops_at_unreadable_entry() {
        let mut m = start_info(1, &[(0, 4096, 1), (0x100000, 4096, 1)], &[]);
        for off in 24..48 {
            m.0.remove(&(0x2000 + off));
        }
        let info = BootInfo::parse(&m, 0x1000).unwrap();
        assert_eq!(info.memory().len(), 1);
    }
}
