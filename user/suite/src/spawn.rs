//! Helper processes: each gets a fresh address space holding one page with a copy of the
//! helpers' code ([`crate::helpers`]), a process at the given priority, its own process
//! capability, echo, and an endpoint to the tester. It starts halted.
//!
//! Guarantees: every object a helper is made of comes from `slots::BANK` and goes back to it
//! when the helper is dropped, so running the suite again costs no quota.

use crate::helpers::{self, Helper, REPORT};
use tessera_user::abi::{CapType, Error, Rights};
use tessera_user::{caps, slots};

/// Where the helper's code page is mapped.
pub const CODE_VPN: u64 = 0x1000;
const PAGE: u64 = 4096;

/// A helper process; its three objects live in the tester's slots `base..base + 3`.
pub struct Spawned {
    base: u8,
}

impl Spawned {
    /// The tester's slot holding the helper's process capability.
    pub fn process(&self) -> u8 {
        self.base + 2
    }

    /// The tester's slot holding the helper's address space.
    pub fn space(&self) -> u8 {
        self.base
    }

    /// Where the helper's code starts in its address space.
    pub fn code_base(&self) -> u64 {
        CODE_VPN * PAGE
    }
}

/// Makes a halted helper running `helper` with `rdi` = `arg` at `priority`; `report` is the
/// tester's endpoint it gets in [`REPORT`]. Uses the tester's slots `base..base + 3`.
pub fn spawn(
    base: u8,
    helper: Helper,
    arg: u64,
    priority: u64,
    report: u8,
) -> Result<Spawned, Error> {
    let code = helpers::code();
    spawn_code(base, code, helpers::offset(helper), arg, priority, report)
}

/// [`spawn`] for position-independent `code` of any helper set, started at offset `entry`.
pub fn spawn_code(
    base: u8,
    code: &[u8],
    entry: u64,
    arg: u64,
    priority: u64,
    report: u8,
) -> Result<Spawned, Error> {
    if code.len() as u64 > PAGE {
        return Err(Error::InvalidArgument);
    }
    let (space, page, process) = (base, base + 1, base + 2);
    caps::create(slots::BANK, CapType::AddressSpace, space)?;
    let spawned = Spawned { base };
    caps::create(slots::BANK, CapType::Page, page)?;
    caps::zero_page(page)?;
    for (i, chunk) in code.chunks(8).enumerate() {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        if w != 0 {
            caps::write_word(page, i as u64, w)?;
        }
    }
    caps::map(space, CODE_VPN, page, Rights::READ.union(Rights::EXEC))?;
    caps::create(slots::BANK, CapType::Process, process)?;
    // Labels its lane in a kernel trace; a kernel without tracing refuses, which is no matter.
    let _ = tessera_user::trace::name(process, "suite helper");
    caps::set_space(process, space)?;
    let base_va = CODE_VPN * PAGE;
    caps::set_entry(process, base_va + entry, base_va + PAGE, arg)?;
    caps::set_priority(process, priority)?;
    caps::set_cap(process, tessera_user::slots::SELF, process, Rights::ALL)?;
    caps::set_cap(process, slots::ECHO, slots::ECHO, Rights::ALL)?;
    caps::set_cap(process, REPORT, report, Rights::ALL)?;
    Ok(spawned)
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = caps::halt(self.process());
        for slot in [self.base + 2, self.base + 1, self.base] {
            let _ = caps::destroy(slots::BANK, slot);
        }
    }
}
