//! The boot file system: user program ELFs packed into a ustar archive that QEMU hands the
//! kernel as its `-initrd` module.
//!
//! Guarantees: entries are plain files named exactly by program name (no directories, no
//! duplicates, at most 100 bytes so they fit the ustar name field without extensions), in the
//! order given, with mode 0755, owner 0 and mtime 0 so the archive is reproducible.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Packs each `(name, elf path)` into the archive at `out`, replacing it.
pub fn pack(entries: &[(String, PathBuf)], out: &Path) -> Result<()> {
    let mut files = Vec::with_capacity(entries.len());
    for (name, path) in entries {
        let data = fs::read(path).with_context(|| {
            format!("could not read user program `{name}` at {}", path.display())
        })?;
        files.push((name.as_str(), data));
    }
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    let file =
        fs::File::create(out).with_context(|| format!("could not create {}", out.display()))?;
    write_archive(&files, file).with_context(|| format!("could not write {}", out.display()))
}

fn write_archive<W: Write>(files: &[(&str, Vec<u8>)], out: W) -> Result<()> {
    let mut builder = tar::Builder::new(out);
    for (index, (name, data)) in files.iter().enumerate() {
        check_name(name)?;
        if files[..index].iter().any(|(earlier, _)| earlier == name) {
            bail!("two user programs are both named `{name}`");
        }
        let mut header = tar::Header::new_ustar();
        header
            .set_path(name)
            .with_context(|| format!("bad bootfs entry name `{name}`"))?;
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, data.as_slice())?;
    }
    builder.into_inner()?.flush()?;
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
    if !ok {
        bail!("`{name}` cannot name a bootfs entry: use 1-100 printable ASCII bytes without `/`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn archive(files: &[(&str, Vec<u8>)]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        write_archive(files, &mut out)?;
        Ok(out)
    }

    #[test]
    fn entries_round_trip_in_order_as_ustar() {
        let bytes =
            archive(&[("init", b"\x7fELF init".to_vec()), ("shell", vec![7; 1000])]).unwrap();
        assert_eq!(bytes.len() % 512, 0);
        assert_eq!(
            &bytes[257..263],
            b"ustar\0",
            "ustar magic in the first header"
        );
        let mut read = tar::Archive::new(bytes.as_slice());
        let mut got = Vec::new();
        for entry in read.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header();
            assert_eq!(header.mode().unwrap(), 0o755);
            assert_eq!(header.mtime().unwrap(), 0);
            assert_eq!(header.entry_type(), tar::EntryType::Regular);
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            got.push((name, data));
        }
        assert_eq!(
            got,
            vec![
                ("init".to_owned(), b"\x7fELF init".to_vec()),
                ("shell".to_owned(), vec![7; 1000])
            ]
        );
    }

    #[test]
    fn packing_is_reproducible() {
        let files = [("init", vec![1, 2, 3])];
        assert_eq!(archive(&files).unwrap(), archive(&files).unwrap());
    }

    #[test]
    fn bad_names_are_refused() {
        let long = "x".repeat(101);
        for bad in ["", "bin/init", "..", ".", "with space", long.as_str()] {
            assert!(archive(&[(bad, vec![0])]).is_err(), "name {bad:?} accepted");
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        assert!(archive(&[("init", vec![0]), ("init", vec![1])]).is_err());
    }

    #[test]
    fn a_missing_program_file_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("xtask-bootfs-{}", std::process::id()));
        let err = pack(&[("ghost".into(), dir.join("ghost"))], &dir.join("out.tar")).unwrap_err();
        assert!(format!("{err:#}").contains("ghost"));
    }
}
