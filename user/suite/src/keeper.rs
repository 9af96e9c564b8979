//! Fault keepers in ring 3 (`abi::fault`): the tester keeps helper processes' faults. A page
//! fault reaches it with the address and RIP, it maps the page and replies, and the helper goes
//! on; it skips #UD, #DE and an `int3` by rewriting RIP; without a keeper the helper halts with
//! its registers at the fault and RESUME re-runs the faulting instruction; SET_ENTRY on a helper
//! halted in an open wait or a stall starts it fresh (issue 7, item 4); a keeper that faults
//! and never replies leaves the faulter waiting, still halted and resumed at will; and the
//! register orders refuse what they must.

use crate::helpers::REPORTED;
use crate::keeper_code::{self, Label};
use crate::spawn::{spawn_code, Spawned};
use crate::tester::{
    await_state, drain, ensure, hold_echo, poll, release_echo, step, Outcome, ENDPOINT, SCRATCH,
};
use crate::Ctx;
use alloc::format;
use alloc::string::String;
use tessera_user::abi::fault::{kind, page_fault, Fault, Reg};
use tessera_user::abi::message::{InvocationKind, MessageInfo};
use tessera_user::abi::{CapType, Error, ProcessState, Rights};
use tessera_user::invoke::{self, Received};
use tessera_user::{caps, slots};

/// The helper's three slots.
const HELPER: u8 = SCRATCH + 20;
/// An endpoint to the tester with [`KEEPER_BADGE`]: the helper's fault endpoint.
const KEEPER_EP: u8 = SCRATCH + 23;
/// Where a fault message's resume capability lands.
const FAULT_RESUME: u8 = SCRATCH + 24;
/// The page the keeper maps for the reader.
const DATA_PAGE: u8 = SCRATCH + 25;
/// A copy of the tester's own process capability without READ.
const NO_READ: u8 = SCRATCH + 26;
/// The slots of a helper that acts as a keeper.
const SILENT_KEEPER: u8 = SCRATCH + 27;
const KEEPER_BADGE: u64 = 0xfa17_0001;
/// Where the reader reads: unmapped until the keeper maps it.
const DATA_VA: u64 = 0x4000_0000;
const DATA_WORD: u64 = 0x5eed_0000;

fn spawn(ctx: &Ctx, entry: Label, arg: u64) -> Result<Spawned, String> {
    spawn_at(ctx, HELPER, entry, arg)
}

fn spawn_at(ctx: &Ctx, base: u8, entry: Label, arg: u64) -> Result<Spawned, String> {
    step(
        "spawn",
        spawn_code(
            base,
            keeper_code::code(),
            keeper_code::offset(entry),
            arg,
            ctx.priority,
            ENDPOINT,
        ),
    )
}

/// The address of `label` in the helper.
fn at(h: &Spawned, label: Label) -> u64 {
    h.code_base() + keeper_code::offset(label)
}

/// Waits until `h` is halted and off every CPU (its registers at rest).
fn await_stopped(h: &Spawned) -> Outcome {
    let mut last = None;
    let stopped = poll(|| {
        let i = step("INFO", caps::info(h.process()))?;
        last = Some(i);
        Ok((i.state == ProcessState::Halted && i.cpu.is_none()).then_some(()))
    })?;
    stopped.ok_or_else(|| match last {
        Some(i) => format!("the helper stayed {} on {:?}", i.state.name(), i.cpu),
        None => String::from("no INFO"),
    })
}

/// Makes the tester `h`'s keeper.
fn keep(h: &Spawned) -> Outcome {
    step(
        "make the keeper endpoint",
        caps::make_endpoint(slots::SELF, KEEPER_BADGE, KEEPER_EP),
    )?;
    step(
        "SET_FAULT_ENDPOINT",
        caps::set_fault_endpoint(h.process(), KEEPER_EP),
    )
}

/// Waits for `h`'s next fault message: `h` is first seen waiting for the keeper (so the wait
/// cannot hang), then the message is received with its resume capability in [`FAULT_RESUME`].
fn next_fault(h: &Spawned) -> Result<Fault, String> {
    await_state(h.process(), |s| {
        matches!(s, ProcessState::Stalled | ProcessState::Waiting)
    })?;
    let m = step(
        "wait for the fault message",
        invoke::raw(
            InvocationKind::Return,
            0,
            0,
            &[],
            &[],
            [0, 0, 0, FAULT_RESUME],
        ),
    )?;
    let info = MessageInfo::unpack(m.info);
    let call = info.is_some_and(|i| i.kind == InvocationKind::Call && i.resume);
    match Fault::unpack(m.order(), m.data) {
        Some(f) if m.badge == KEEPER_BADGE && call => Ok(f),
        _ => Err(format!("expected a fault message, got {m:?}")),
    }
}

/// Lets the faulted helper go on (SEND through the resume capability: the tester goes on too).
fn reply() -> Outcome {
    step(
        "reply to the fault",
        invoke::send(FAULT_RESUME, 0, &[], &[]).map(|_| ()),
    )
}

/// The word of the next report of a helper, waiting up to two seconds for it.
fn await_report() -> Result<u64, String> {
    let got = poll(|| {
        let mut got = None;
        drain(|m: &Received| {
            if m.order() == REPORTED && got.is_none() {
                got = Some(m.data[0]);
            }
        })?;
        Ok(got)
    })?;
    got.ok_or_else(|| String::from("no report from the helper"))
}

/// A page with [`DATA_WORD`] at word 0, mapped readable at [`DATA_VA`] in `h`'s space.
fn map_data(h: &Spawned) -> Outcome {
    step(
        "create the data page",
        caps::create(slots::BANK, CapType::Page, DATA_PAGE),
    )?;
    step("zero it", caps::zero_page(DATA_PAGE))?;
    step("fill it", caps::write_word(DATA_PAGE, 0, DATA_WORD))?;
    step(
        "map it",
        caps::map(h.space(), DATA_VA >> 12, DATA_PAGE, Rights::READ),
    )
}

/// Destroys the helper (its space with it, so no mapping of the data page outlives it), then
/// the data page.
fn clean_up(h: Spawned) {
    drop(h);
    let _ = caps::destroy(slots::BANK, DATA_PAGE);
}

/// (a) The keeper gets a page fault with its address and RIP, maps the page and replies; the
/// helper reads the word and finishes.
pub fn page_fault_is_fixed_by_the_keeper(ctx: &Ctx) -> Outcome {
    let h = spawn(ctx, Label::Reader, DATA_VA)?;
    let r = (|| {
        keep(&h)?;
        step("resume", caps::resume(h.process()))?;
        let f = next_fault(&h)?;
        let want = Fault {
            kind: kind::PAGE_FAULT,
            error: page_fault::USER,
            addr: DATA_VA,
            rip: at(&h, Label::ReaderFault),
        };
        ensure(f == want, || format!("fault {f:x?}, expected {want:x?}"))?;
        ensure(
            caps::info(h.process()).map(|i| i.state) == Ok(ProcessState::Waiting),
            || String::from("the faulted helper is not waiting"),
        )?;
        map_data(&h)?;
        reply()?;
        let w = await_report()?;
        ensure(w == DATA_WORD + 1, || {
            format!("the helper read {w:#x}, expected {:#x}", DATA_WORD + 1)
        })
    })();
    clean_up(h);
    r
}

/// A fault the trapper makes: its kind, a check of its error code, where, and how long the
/// faulting instruction is.
struct Trap {
    kind: u64,
    error: fn(u64) -> bool,
    label: Label,
    len: u64,
}

fn no_error(e: u64) -> bool {
    e == 0
}

/// int3's #GP error code names IDT entry 3 (bit 1): as `3 << 3 | 2` on hardware, and as
/// `3 << 4 | 2` under QEMU's TCG, which scales the index by the 16-byte gate size.
fn names_idt_entry_3(e: u64) -> bool {
    e == (3 << 3) | 2 || e == (3 << 4) | 2
}

/// (b) #UD, #DE and `int3` (a #GP: its gate is closed to ring 3) each reach the keeper, which
/// checks the registers at the fault, counts the fault in r13 and moves RIP past it.
pub fn traps_are_skipped_by_the_keeper(ctx: &Ctx) -> Outcome {
    const MARK: u64 = 0x7a9_7a9;
    let h = spawn(ctx, Label::Trapper, MARK)?;
    let r = (|| {
        keep(&h)?;
        step("resume", caps::resume(h.process()))?;
        let expected = [
            Trap {
                kind: kind::INVALID_OPCODE,
                error: no_error,
                label: Label::TrapperUd,
                len: 2,
            },
            Trap {
                kind: kind::DIVIDE_ERROR,
                error: no_error,
                label: Label::TrapperDe,
                len: 3,
            },
            Trap {
                kind: kind::GENERAL_PROTECTION,
                error: names_idt_entry_3,
                label: Label::TrapperBp,
                len: 1,
            },
        ];
        for (
            i,
            Trap {
                kind,
                error,
                label,
                len,
            },
        ) in expected.into_iter().enumerate()
        {
            let f = next_fault(&h)?;
            let rip = at(&h, label);
            ensure(
                f.kind == kind && error(f.error) && f.addr == 0 && f.rip == rip,
                || format!("fault {i}: {f:x?}, expected kind {kind} at {rip:#x}"),
            )?;
            let regs = step("READ_REGS r12..r15", caps::read_regs(h.process(), Reg::R12))?;
            let at_fault = step("READ_REG rip", caps::read_reg(h.process(), Reg::Rip))?;
            ensure(
                regs[0] == MARK && regs[1] == i as u64 && at_fault == rip,
                || {
                    format!(
                        "fault {i}: r12, r13 = {:#x}, {}, rip {at_fault:#x}",
                        regs[0], regs[1]
                    )
                },
            )?;
            step(
                "WRITE_REG r13",
                caps::write_reg(h.process(), Reg::R13, i as u64 + 1),
            )?;
            step(
                "WRITE_REG rip",
                caps::write_reg(h.process(), Reg::Rip, rip + len),
            )?;
            reply()?;
        }
        let w = await_report()?;
        ensure(w == 3, || format!("the helper counted {w} faults skipped"))
    })();
    clean_up(h);
    r
}

/// (c) No keeper: the helper halts at the fault with its registers there (RIP = the load);
/// after the page is mapped and r13 rewritten, RESUME re-runs the load, not the entry.
pub fn without_a_keeper_resume_reruns_the_fault(ctx: &Ctx) -> Outcome {
    let h = spawn(ctx, Label::Reader, DATA_VA)?;
    let r = (|| {
        step("resume", caps::resume(h.process()))?;
        await_stopped(&h)?;
        let rip = step("READ_REG rip", caps::read_reg(h.process(), Reg::Rip))?;
        let r12 = step("READ_REG r12", caps::read_reg(h.process(), Reg::R12))?;
        let want = at(&h, Label::ReaderFault);
        ensure(rip == want && r12 == DATA_VA, || {
            format!("halted with rip {rip:#x}, r12 {r12:#x}; expected {want:#x}, {DATA_VA:#x}")
        })?;
        map_data(&h)?;
        step("WRITE_REG r13", caps::write_reg(h.process(), Reg::R13, 100))?;
        step("resume after the fix", caps::resume(h.process()))?;
        let w = await_report()?;
        ensure(w == DATA_WORD + 100, || {
            format!("read {w:#x}: the helper did not go on from the fault with its registers")
        })
    })();
    clean_up(h);
    r
}

/// (d) SET_ENTRY on a helper halted in an open wait, or in a CALL stalled on held echo, makes
/// RESUME start it at the new entry with the new argument.
pub fn set_entry_starts_fresh(ctx: &Ctx) -> Outcome {
    for (first, name) in [(Label::Waiter, "open wait"), (Label::EchoCaller, "stall")] {
        let stall = first == Label::EchoCaller;
        if stall {
            hold_echo()?;
        }
        let h = spawn(ctx, first, 1)?;
        let r = (|| {
            step("resume", caps::resume(h.process()))?;
            let waits = if stall {
                ProcessState::Stalled
            } else {
                ProcessState::Available
            };
            await_state(h.process(), |s| s == waits)?;
            step("halt", caps::halt(h.process()))?;
            await_state(h.process(), |s| s == ProcessState::Halted)?;
            let arg = 0xa5_0000 + first as u64;
            step(
                "SET_ENTRY",
                caps::set_entry(
                    h.process(),
                    at(&h, Label::Reporter),
                    h.code_base() + 4096,
                    arg,
                ),
            )?;
            step("resume at the new entry", caps::resume(h.process()))?;
            let w = await_report()?;
            ensure(w == arg, || {
                format!("{name}: the helper reported {w:#x}, expected its new argument {arg:#x}")
            })
        })();
        if stall {
            release_echo()?;
        }
        clean_up(h);
        r?;
    }
    Ok(())
}

/// A keeper that takes the fault message and then faults itself (a helper in an open wait
/// that runs into `ud2` when a message arrives) never replies: the faulter stays waiting with
/// its registers at the fault, and HALT and RESUME still work on it.
pub fn a_silent_keeper_leaves_the_faulter_waiting(ctx: &Ctx) -> Outcome {
    let keeper = spawn_at(ctx, SILENT_KEEPER, Label::Waiter, 0)?;
    let h = spawn(ctx, Label::Reader, DATA_VA)?;
    let r = (|| {
        step(
            "an endpoint to the helper keeper",
            caps::make_endpoint(keeper.process(), KEEPER_BADGE, KEEPER_EP),
        )?;
        step(
            "SET_FAULT_ENDPOINT",
            caps::set_fault_endpoint(h.process(), KEEPER_EP),
        )?;
        step("resume the keeper", caps::resume(keeper.process()))?;
        await_state(keeper.process(), |s| s == ProcessState::Available)?;
        step("resume the faulter", caps::resume(h.process()))?;
        await_state(keeper.process(), |s| s == ProcessState::Halted)?;
        let state = step("INFO", caps::info(h.process()))?.state;
        let rip = step("READ_REG rip", caps::read_reg(h.process(), Reg::Rip))?;
        let want = at(&h, Label::ReaderFault);
        ensure(state == ProcessState::Waiting && rip == want, || {
            format!(
                "the faulter is {} at {rip:#x}, expected waiting at {want:#x}",
                state.name()
            )
        })?;
        step("halt the waiting faulter", caps::halt(h.process()))?;
        map_data(&h)?;
        step("resume it", caps::resume(h.process()))?;
        let w = await_report()?;
        ensure(w == DATA_WORD + 1, || {
            format!("the faulter read {w:#x} after RESUME")
        })
    })();
    drop(keeper);
    clean_up(h);
    r
}

/// Registers written into a process that last left user mode by `syscall` all reach it: rcx
/// too, which `sysretq` would overwrite with the return address.
pub fn written_registers_reach_user_mode_after_a_syscall(ctx: &Ctx) -> Outcome {
    const RCX: u64 = 0x7c0_ffee;
    let h = spawn(ctx, Label::Waiter, 0)?;
    let r = (|| {
        step("resume", caps::resume(h.process()))?;
        await_state(h.process(), |s| s == ProcessState::Available)?;
        step("halt", caps::halt(h.process()))?;
        await_stopped(&h)?;
        let entry = at(&h, Label::RcxReporter);
        step(
            "SET_ENTRY",
            caps::set_entry(h.process(), entry, h.code_base() + 4096, 0),
        )?;
        step("WRITE_REG rcx", caps::write_reg(h.process(), Reg::Rcx, RCX))?;
        step("resume", caps::resume(h.process()))?;
        let w = await_report()?;
        ensure(w == RCX, || {
            format!("the helper saw rcx = {w:#x}, expected {RCX:#x}")
        })
    })();
    clean_up(h);
    r
}

/// (e) The register orders and SET_FAULT_ENDPOINT refuse bad input with the right code.
pub fn register_orders_refuse_bad_input(ctx: &Ctx) -> Outcome {
    let checks: [(&str, Result<(), Error>, Error); 6] = [
        (
            "READ_REGS of a running process",
            caps::read_regs(slots::SELF, Reg::Rax).map(|_| ()),
            Error::BadState,
        ),
        (
            "WRITE_REGS of a running process",
            caps::write_reg(slots::SELF, Reg::Rax, 0),
            Error::BadState,
        ),
        (
            "SET_FAULT_ENDPOINT to a bank",
            caps::set_fault_endpoint(slots::SELF, slots::BANK),
            Error::WrongType,
        ),
        (
            "WRITE_REGS without a value",
            caps::write_regs(slots::SELF, Reg::Rax, &[]),
            Error::InvalidArgument,
        ),
        (
            "WRITE_REGS past RFLAGS",
            caps::write_regs(slots::SELF, Reg::Rflags, &[1, 2]),
            Error::InvalidArgument,
        ),
        (
            "READ_REGS of register 18",
            invoke::call(
                slots::SELF,
                tessera_user::abi::order::process::READ_REGS,
                &[18],
                &[],
            )
            .map(|_| ()),
            Error::InvalidArgument,
        ),
    ];
    for (what, got, want) in checks {
        ensure(got == Err(want), || {
            format!("{what}: {got:?}, expected {want:?}")
        })?;
    }
    step(
        "copy SELF without READ",
        caps::set_cap(slots::SELF, NO_READ, slots::SELF, Rights::WRITE),
    )?;
    let got = caps::read_regs(NO_READ, Reg::Rax).map(|_| ());
    ensure(got == Err(Error::MissingRights), || {
        format!("READ_REGS without READ: {got:?}")
    })?;
    let h = spawn(ctx, Label::Reader, DATA_VA)?;
    let halted = caps::read_reg(h.process(), Reg::Rip);
    let r = ensure(halted == Ok(at(&h, Label::Reader)), || {
        format!("READ_REGS of a new, halted helper: {halted:?}")
    });
    clean_up(h);
    r
}
