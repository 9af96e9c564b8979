//! The boot archive's readers, shared by the kernel (which loads init) and init (which loads
//! the rest): [`archive`] finds a program's file in the ustar archive, [`elf`] turns that file
//! into the pages a loader maps. Both are total over their input: a malformed archive or image
//! is an error or a missing file, never an out-of-bounds read or a panic.
//!
//! The parsing itself is done by well-kept crates (`tar-no-std`, `object`); this crate keeps
//! what Tessera adds: the bounds of the user half, and rights from segment flags.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
pub mod elf;
