//! The boot archive: the user programs, as a ustar archive (`cargo xtask build` makes it; the
//! boot loader hands it to the kernel, which maps it into init, see `tessera_abi::boot`). Read
//! by the kernel and by init, through `tar-no-std`, which checks the whole archive (every
//! header's checksum, type and size, the terminating zero blocks) before it yields a file, so
//! a corrupt archive yields no files, never an out-of-bounds read or a panic.

use tar_no_std::TarArchiveRef;

/// One regular file of the archive: its name and contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct File<'a> {
    /// The file's name (no directories: programs are named by their crate).
    pub name: &'a str,
    /// Its bytes.
    pub data: &'a [u8],
}

/// The regular files of `archive`, in order; none if the archive is corrupt.
pub fn files(archive: &[u8]) -> impl Iterator<Item = File<'_>> {
    let tar = TarArchiveRef::new(archive).ok();
    // An entry's `filename()` is a copy; its header's name field borrows from the archive.
    // `entries()` yields the regular files in header order, so the two line up.
    let headers = tar
        .clone()
        .into_iter()
        .flat_map(|t| t.headers())
        .map(|(_, h)| h);
    let regular = headers.filter(|h| {
        h.typeflag
            .try_to_type_flag()
            .is_ok_and(|t| t.is_regular_file())
    });
    let entries = tar.into_iter().flat_map(|t| t.entries());
    regular.zip(entries).filter_map(|(h, e)| {
        Some(File {
            name: h.name.as_str().ok()?,
            data: e.data(),
        })
    })
}

/// The contents of the file named `name`.
pub fn find<'a>(archive: &'a [u8], name: &str) -> Option<&'a [u8]> {
    files(archive).find(|f| f.name == name).map(|f| f.data)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;
    use std::vec;
    use std::vec::Vec;

    const BLOCK: usize = 512;

    fn entry(name: &str, data: &[u8], kind: u8) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let size = format!("{:011o}\0", data.len());
        h[124..136].copy_from_slice(size.as_bytes());
        h[156] = kind;
        h[257..265].copy_from_slice(b"ustar\x0000");
        seal(&mut h);
        h.extend_from_slice(data);
        h.resize(BLOCK + data.len().div_ceil(BLOCK) * BLOCK, 0);
        h
    }

    /// Writes the header's checksum, as any tar writer does, so a test's corruption is the
    /// only thing wrong with the archive.
    fn seal(h: &mut [u8]) {
        h[148..156].fill(b' ');
        let sum: u32 = h[..BLOCK].iter().map(|&b| b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }

    fn terminated(mut a: Vec<u8>) -> Vec<u8> {
        a.extend(vec![0u8; 2 * BLOCK]);
        a
    }

    #[test]
    fn lists_regular_files_and_skips_others() {
        let mut a = entry("init", b"\x7fELF init", b'0');
        a.extend(entry("dir", b"", b'5'));
        a.extend(entry("shell", &[7u8; 600], b'0'));
        a.extend(vec![0u8; 1024]);
        let names: Vec<_> = files(&a).map(|f| (f.name, f.data.len())).collect();
        assert_eq!(names, [("init", 9), ("shell", 600)]);
        assert_eq!(find(&a, "shell").map(|d| d[599]), Some(7));
        assert_eq!(find(&a, "nothing"), None);
    }

    #[test]
    fn corrupt_archives_end_early_without_panicking() {
        let mut a = terminated(entry("init", &[1u8; 100], b'0'));
        a.truncate(BLOCK + 50);
        assert_eq!(files(&a).count(), 0, "data runs past the end");
        let mut b = entry("x", b"abc", b'0');
        b[124] = b'9';
        seal(&mut b);
        assert_eq!(files(&terminated(b)).count(), 0, "size is not octal");
        assert_eq!(files(&[]).count(), 0);
        let mut c = entry("y", b"abc", b'0');
        c[124..136].copy_from_slice(b"77777777777\0");
        seal(&mut c);
        assert_eq!(files(&terminated(c)).count(), 0, "a huge size is refused");
        let mut d = entry("z", b"abc", b'0');
        d[0] = b'Z';
        assert_eq!(
            files(&terminated(d)).count(),
            0,
            "a bad checksum is refused"
        );
    }
}
