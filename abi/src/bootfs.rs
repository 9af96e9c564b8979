//! The boot archive: the user programs, as a ustar archive (`cargo xtask build` makes it; the
//! boot loader hands it to the kernel, which maps it into init, see [`crate::boot`]). Read by
//! the kernel and by init. Read-only; every header is checked, so a corrupt archive yields
//! fewer files, never an out-of-bounds read or a panic.

const BLOCK: usize = 512;

/// One regular file of the archive: its name and contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct File<'a> {
    /// The file's name (no directories: programs are named by their crate).
    pub name: &'a str,
    /// Its bytes.
    pub data: &'a [u8],
}

fn octal(field: &[u8]) -> Option<usize> {
    let mut n = 0usize;
    for &b in field.iter().take_while(|&&b| b != 0 && b != b' ') {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        n = n.checked_mul(8)?.checked_add((b - b'0') as usize)?;
    }
    Some(n)
}

/// The regular files of `archive`, in order.
pub fn files(archive: &[u8]) -> impl Iterator<Item = File<'_>> {
    let mut off = 0;
    core::iter::from_fn(move || loop {
        let header = archive.get(off..off + BLOCK)?;
        if header.iter().all(|&b| b == 0) {
            return None;
        }
        let size = octal(&header[124..136])?;
        let data_start = off + BLOCK;
        let data = archive.get(data_start..data_start.checked_add(size)?)?;
        off = data_start + size.div_ceil(BLOCK) * BLOCK;
        let name_len = header[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let name = core::str::from_utf8(&header[..name_len]).ok()?;
        if matches!(header[156], b'0' | 0) {
            return Some(File { name, data });
        }
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

    fn entry(name: &str, data: &[u8], kind: u8) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let size = format!("{:011o}\0", data.len());
        h[124..136].copy_from_slice(size.as_bytes());
        h[156] = kind;
        h.extend_from_slice(data);
        h.resize(BLOCK + data.len().div_ceil(BLOCK) * BLOCK, 0);
        h
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
        let mut a = entry("init", &[1u8; 100], b'0');
        a.truncate(BLOCK + 50);
        assert_eq!(files(&a).count(), 0, "data runs past the end");
        let mut b = entry("x", b"abc", b'0');
        b[124] = b'9';
        assert_eq!(files(&b).count(), 0, "size is not octal");
        assert_eq!(files(&[]).count(), 0);
        let mut c = entry("y", b"abc", b'0');
        c[124..136].copy_from_slice(b"77777777777\0");
        assert_eq!(files(&c).count(), 0, "a huge size is refused");
    }
}
