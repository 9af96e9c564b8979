//! Memory isolation across processes: a page destroyed by its bank while another process has
//! it mapped and in use is gone for that process at once. Its next access faults (it is
//! halted), and its old address never reaches the frame once the frame holds a new page.

use crate::helpers::Helper;
use crate::spawn::{spawn, CODE_VPN};
use crate::tester::{await_state, ensure, poll, step, Outcome, ENDPOINT, SCRATCH};
use crate::Ctx;
use alloc::format;
use alloc::string::String;
use tessera_user::abi::{order, CapType, ProcessState, Rights};
use tessera_user::{caps, invoke, slots};

/// The helper's space, code page and process; the page it writes; new pages after it.
const HELPER: u8 = SCRATCH + 20;
const DATA: u8 = HELPER + 3;
const FRESH: u8 = DATA + 1;
const FRESH_PAGES: u8 = 6;
/// Where the helper's data page is mapped.
const DATA_VPN: u64 = 0x2000;
/// What the helper writes, again and again, into word 0 of its data page.
const MARK: u64 = 0x5eed_0fde_ad00_0001;

core::arch::global_asm!(
    r#"
    .section .text.tessera_memory_writer, "ax"
    .global tessera_memory_writer_start
tessera_memory_writer_start:
    movabs rbx, {data}
1:
    mov [rbx], rdi
    jmp 1b
    .global tessera_memory_writer_end
tessera_memory_writer_end:
"#,
    data = const DATA_VPN * 4096,
);

extern "C" {
    static tessera_memory_writer_start: u8;
    static tessera_memory_writer_end: u8;
}

/// The writer's code: stores `rdi` into word 0 of the data page forever.
fn writer_code() -> &'static [u8] {
    tessera_user::assembled_bytes!(tessera_memory_writer_start, tessera_memory_writer_end)
}

fn read_word(page: u8) -> Result<u64, String> {
    let r = step(
        "READ_WORD",
        invoke::call(page, order::page::READ_WORD, &[0], &[]),
    )?;
    Ok(r.data[0])
}

/// Process A writes into a page of its own; the page's bank destroys it; new pages are made
/// (one likely gets the frame back). A must be halted at its next access, and no new page may
/// ever hold what A writes.
pub fn destroyed_page_is_unreachable(ctx: &Ctx) -> Outcome {
    let h = step(
        "spawn",
        spawn(HELPER, Helper::Spin, MARK, ctx.priority, ENDPOINT),
    )?;
    let (space, code_page) = (HELPER, HELPER + 1);
    let code = writer_code();
    let at = (crate::helpers::code().len() as u64).div_ceil(8);
    ensure(at * 8 + code.len() as u64 <= 4096, || {
        format!("no room for the writer at {at}")
    })?;
    for (i, chunk) in code.chunks(8).enumerate() {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        step(
            "copy the writer",
            caps::write_word(code_page, at + i as u64, u64::from_le_bytes(word)),
        )?;
    }
    let base = CODE_VPN * 4096;
    step(
        "set the writer's entry",
        caps::set_entry(h.process(), base + at * 8, base + 4096, MARK),
    )?;
    step(
        "create the data page",
        caps::create(slots::BANK, CapType::Page, DATA),
    )?;
    step(
        "map it",
        caps::map(space, DATA_VPN, DATA, Rights::READ.union(Rights::WRITE)),
    )?;
    step("resume", caps::resume(h.process()))?;
    let outcome = watch(h.process());
    for s in FRESH..FRESH + FRESH_PAGES {
        let _ = caps::destroy(slots::BANK, s);
    }
    let _ = caps::destroy(slots::BANK, DATA);
    outcome
}

fn watch(process: u8) -> Outcome {
    let wrote = poll(|| Ok((read_word(DATA)? == MARK).then_some(())))?;
    ensure(wrote.is_some(), || {
        String::from("the writer never wrote its page")
    })?;
    step("destroy the page in use", caps::destroy(slots::BANK, DATA))?;
    for s in FRESH..FRESH + FRESH_PAGES {
        step(
            "create a fresh page",
            caps::create(slots::BANK, CapType::Page, s),
        )?;
    }
    let halted = await_state(process, |s| s == ProcessState::Halted);
    for s in FRESH..FRESH + FRESH_PAGES {
        let w = read_word(s)?;
        ensure(w != MARK, || {
            String::from("a page made after the destroy holds the writer's mark: its old mapping reached the reused frame")
        })?;
    }
    halted.map(|_| ())
}
