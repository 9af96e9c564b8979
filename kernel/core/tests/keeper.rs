//! Fault keepers and the registers of a stopped process, end to end by hand: a fault becomes a
//! CALL to the keeper carrying kind, error, address and RIP; the keeper reads and writes the
//! registers and its reply resumes the process with them; without a keeper, or when the keeper
//! cannot take the message, the process halts with its registers at the fault kept; hostile
//! keepers (gone, itself, busy, silent) leave the kernel consistent. And SET_ENTRY makes
//! RESUME start fresh whatever the process was halted in (issue 7, item 4).
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use common::{inv, ModelRegs, H};
use tessera_abi::fault::{kind, Fault, Reg, FAULT};
use tessera_abi::message::MessageInfo;
use tessera_abi::{order, CapType, Error, InvocationKind, ProcessState, Rights};
use tessera_core::keeper::Faulted;
use tessera_core::{Cap, Exit};

const EP: u8 = 10;
const RESUME: u8 = 3;
const KEEPER_BADGE: u64 = 0xfa;

fn ret(cap: u8, data: &[u64]) -> tessera_abi::message::Invocation {
    inv(InvocationKind::Return, cap, 0, data, &[], [0, 0, 0, RESUME])
}

/// Registers of a process in user mode, distinct in every word.
fn user_regs(rip: u64) -> ModelRegs {
    let mut r = ModelRegs::default();
    for (i, reg) in Reg::ALL.iter().enumerate() {
        tessera_core::SaveArea::set_reg(&mut r, *reg, 0x100 + i as u64);
    }
    r.pc = rip;
    r
}

fn page_fault(addr: u64, rip: u64) -> Fault {
    Fault {
        kind: kind::PAGE_FAULT,
        error: 6,
        addr,
        rip,
    }
}

/// The current process of CPU `c` takes fault `f` with registers `regs`; then the CPU exits.
fn fault(h: &mut H, c: usize, regs: ModelRegs, f: Fault) -> Faulted {
    h.regs[c] = regs;
    let r = h.k.fault_framed(&mut h.cpus[c], &h.regs[c], f);
    h.k.exit_framed(&mut h.cpus[c], &mut h.regs[c]);
    h.k.check_invariants(&h.cpus).unwrap();
    r
}

fn read_regs(h: &mut H, p: Cap, first: Reg) -> Result<[u64; 4], Error> {
    h.obj(p, order::process::READ_REGS, &[first as u64], &[])
        .map(|(d, _)| d)
}

/// A keeper `k` in its open wait on CPU 0 and faulters `fs` (with `k` as keeper), the first of
/// them current.
fn world(faulters: usize) -> (H, Cap, Vec<Cap>) {
    let mut h = H::new(1, 16, 100, 2);
    let k = h.process(1);
    let ep = h.endpoint(k, KEEPER_BADGE);
    let mut fs = Vec::new();
    for _ in 0..faulters {
        let f = h.process(1);
        h.obj(f, order::process::SET_FAULT_ENDPOINT, &[], &[ep])
            .unwrap();
        fs.push(f);
    }
    h.start(k);
    for f in &fs {
        h.start(*f);
    }
    assert_eq!(
        h.tick(0),
        Exit::User {
            process: k.obj,
            space: None
        }
    );
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), fs.first().map(|f| f.obj));
    (h, k, fs)
}

#[test]
fn a_fault_reaches_the_keeper_which_rewrites_registers_and_resumes_the_process() {
    let (mut h, k, fs) = world(1);
    let f = fs[0];
    let at_fault = user_regs(0x4000);
    assert_eq!(
        fault(&mut h, 0, at_fault, page_fault(0xdead_0008, 0x4000)),
        Faulted::ToKeeper
    );
    assert_eq!(
        h.current(0),
        Some(k.obj),
        "the keeper runs with the message"
    );
    let r = h.reply(0);
    let info = MessageInfo::unpack(r.info).unwrap();
    assert_eq!(
        (
            r.badge,
            info.kind,
            info.order,
            info.resume,
            info.caps,
            info.data_words
        ),
        (KEEPER_BADGE, InvocationKind::Call, FAULT, true, 0, 4)
    );
    assert_eq!(
        Fault::unpack(info.order, r.data),
        Some(page_fault(0xdead_0008, 0x4000))
    );
    assert_eq!(
        h.state(f),
        ProcessState::Waiting,
        "the faulter waits as in a CALL"
    );
    assert_eq!(
        read_regs(&mut h, f, Reg::Rax).unwrap(),
        [0x100, 0x101, 0x102, 0x103],
        "the registers at the fault, not the fault message"
    );
    assert_eq!(
        read_regs(&mut h, f, Reg::Rip).unwrap(),
        [0x4000, 0x110, 0x111, 0]
    );
    h.obj(
        f,
        order::process::WRITE_REGS,
        &[Reg::Rip as u64, 0x4003],
        &[],
    )
    .unwrap();
    h.obj(
        f,
        order::process::WRITE_REGS,
        &[Reg::R12 as u64, 7, 8, 9],
        &[],
    )
    .unwrap();
    h.syscall(0, ret(RESUME, &[0xbad, 0xbad]));
    assert_eq!(h.current(0), Some(f.obj), "the reply resumes the faulter");
    let mut want = at_fault;
    want.pc = 0x4003;
    want.rest[4..7].copy_from_slice(&[7, 8, 9]);
    assert_eq!(
        h.regs[0], want,
        "its registers as the keeper left them; the reply wrote none"
    );
    assert_eq!(h.state(k), ProcessState::Available);
    assert_eq!(
        read_regs(&mut h, f, Reg::Rax),
        Err(Error::BadState),
        "a running process's registers are not at rest"
    );
}

#[test]
fn without_a_keeper_the_process_halts_with_its_registers_and_resume_reruns_the_fault() {
    let (mut h, _k, fs) = world(1);
    let f = fs[0];
    h.obj(f, order::process::SET_FAULT_ENDPOINT, &[], &[])
        .unwrap();
    let at_fault = user_regs(0x5000);
    h.regs[0] = at_fault;
    let r =
        h.k.fault_framed(&mut h.cpus[0], &h.regs[0], page_fault(0x10, 0x5000));
    assert_eq!(r, Faulted::Halted);
    assert_eq!(h.current(0), None, "off its CPU before the exit path runs");
    assert_eq!(h.state(f), ProcessState::Halted);
    assert_eq!(
        read_regs(&mut h, f, Reg::Rip).unwrap()[0],
        0x5000,
        "whoever sees it halted may read its registers at once"
    );
    h.k.exit_framed(&mut h.cpus[0], &mut h.regs[0]);
    h.start(f);
    h.tick(0);
    assert_eq!(h.current(0), Some(f.obj));
    assert_eq!(
        h.regs[0], at_fault,
        "RESUME goes on from the faulting instruction"
    );
}

#[test]
fn faults_queue_on_a_busy_keeper_in_order_and_each_reply_resumes_its_own() {
    let (mut h, k, fs) = world(2);
    h.obj(k, order::process::HALT, &[], &[]).unwrap();
    assert_eq!(
        fault(&mut h, 0, user_regs(0x1000), page_fault(1, 0x1000)),
        Faulted::ToKeeper
    );
    assert_eq!(h.current(0), Some(fs[1].obj));
    assert_eq!(
        fault(&mut h, 0, user_regs(0x2000), page_fault(2, 0x2000)),
        Faulted::ToKeeper
    );
    assert_eq!(
        h.state(fs[0]),
        ProcessState::Stalled,
        "the message waits for the keeper"
    );
    assert_eq!(h.state(fs[1]), ProcessState::Stalled);
    assert_eq!(
        read_regs(&mut h, fs[1], Reg::Rip).unwrap()[0],
        0x2000,
        "a stalled fault's registers are at rest too"
    );
    h.start(k);
    h.tick(0);
    assert_eq!(h.current(0), Some(k.obj));
    let first = h.reply(0).data[3];
    // The first resume capability stays in slot 3; the next one arrives in slot 4.
    h.syscall(0, inv(InvocationKind::Return, 0, 0, &[], &[], [0, 0, 0, 4]));
    if h.current(0) != Some(k.obj) {
        h.tick(0);
    }
    assert_eq!(h.current(0), Some(k.obj));
    let second = h.reply(0).data[3];
    assert_eq!([first, second], [0x1000, 0x2000], "FIFO, as for any CALL");
    h.syscall(0, inv(InvocationKind::Send, RESUME, 0, &[], &[], [0; 4]));
    assert_eq!(h.error(0), None);
    h.syscall(0, ret(4, &[]));
    for _ in 0..2 {
        if h.current(0).is_none() {
            h.tick(0);
        }
        let me = h.current(0).unwrap();
        let rip = if me == fs[0].obj { 0x1000 } else { 0x2000 };
        assert_eq!(
            h.regs[0],
            user_regs(rip),
            "each faulter goes on with its own registers"
        );
        h.obj(
            Cap::new(CapType::Process, me),
            order::process::HALT,
            &[],
            &[],
        )
        .unwrap();
        h.tick(0);
    }
}

#[test]
fn a_keeper_destroyed_while_the_fault_waits_halts_the_faulter_with_its_registers() {
    let (mut h, k, fs) = world(1);
    let f = fs[0];
    h.obj(k, order::process::HALT, &[], &[]).unwrap();
    assert_eq!(
        fault(&mut h, 0, user_regs(0x6000), page_fault(3, 0x6000)),
        Faulted::ToKeeper
    );
    assert_eq!(h.state(f), ProcessState::Stalled);
    let root = h.root;
    h.obj(root, order::bank::DESTROY, &[], &[k]).unwrap();
    h.tick(0);
    h.k.check_invariants(&h.cpus).unwrap();
    assert_eq!(
        h.state(f),
        ProcessState::Halted,
        "its re-run CALL found no keeper"
    );
    assert_eq!(read_regs(&mut h, f, Reg::Rip).unwrap()[0], 0x6000);
    h.start(f);
    h.tick(0);
    assert_eq!(h.regs[0], user_regs(0x6000));
    assert_eq!(
        fault(&mut h, 0, user_regs(0x6000), page_fault(3, 0x6000)),
        Faulted::Halted,
        "a dead keeper is no keeper"
    );
}

#[test]
fn a_process_that_is_its_own_keeper_is_halted() {
    let (mut h, _k, fs) = world(1);
    let f = fs[0];
    let own = h.endpoint(f, 1);
    h.obj(f, order::process::SET_FAULT_ENDPOINT, &[], &[own])
        .unwrap();
    assert_eq!(
        fault(&mut h, 0, user_regs(0x7000), page_fault(4, 0x7000)),
        Faulted::Halted
    );
    assert_eq!(h.state(f), ProcessState::Halted);
    assert_eq!(read_regs(&mut h, f, Reg::Rip).unwrap()[0], 0x7000);
}

#[test]
fn a_silent_keeper_leaves_the_faulter_waiting_and_halt_resume_and_set_entry_still_work() {
    let (mut h, k, fs) = world(1);
    let f = fs[0];
    assert_eq!(
        fault(&mut h, 0, user_regs(0x8000), page_fault(5, 0x8000)),
        Faulted::ToKeeper
    );
    assert_eq!(h.current(0), Some(k.obj));
    h.obj(f, order::process::HALT, &[], &[]).unwrap();
    h.syscall(0, inv(InvocationKind::Send, RESUME, 0, &[], &[], [0; 4]));
    assert_eq!(
        h.error(0),
        Some(Error::NullCapability),
        "HALT cancelled the fault message: its resume capability is dead"
    );
    h.start(f);
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(f.obj));
    assert_eq!(
        h.regs[0],
        user_regs(0x8000),
        "resumed at the faulting instruction, no Halted error written"
    );
    assert_eq!(
        fault(&mut h, 0, user_regs(0x8000), page_fault(5, 0x8000)),
        Faulted::ToKeeper
    );
    h.obj(f, order::process::HALT, &[], &[]).unwrap();
    h.obj(f, order::process::SET_ENTRY, &[0x9000, 0x9900, 42], &[])
        .unwrap();
    h.start(f);
    h.syscall(0, ret(0, &[]));
    assert_eq!(h.current(0), Some(f.obj));
    assert_eq!(
        (h.regs[0].pc, h.regs[0].sp, h.regs[0].sys.rdi),
        (0x9000, 0x9900, 42)
    );
}

#[test]
fn a_fault_of_a_process_halted_before_the_kernel_saw_it_keeps_its_registers() {
    let (mut h, _k, fs) = world(1);
    let f = fs[0];
    h.obj(f, order::process::HALT, &[], &[]).unwrap();
    assert_eq!(
        fault(&mut h, 0, user_regs(0xa000), page_fault(6, 0xa000)),
        Faulted::Halted
    );
    assert_eq!(read_regs(&mut h, f, Reg::Rip).unwrap()[0], 0xa000);
}

/// Item 4: after SET_ENTRY a halted process starts at the new entry with the new argument,
/// whatever it was halted in. Each case failed before the fix: an open wait stayed an open
/// wait, a stall re-ran the old SEND with the argument as its capability index, a cut-off
/// CALL wrote `Halted` over the new registers.
#[test]
fn set_entry_makes_resume_start_fresh_from_an_open_wait_a_stall_or_a_closed_wait() {
    for halted_in in ["open wait", "stall", "closed wait"] {
        let mut h = H::new(1, 16, 100, 2);
        let server = h.process(1);
        let p = h.process(1);
        let ep = h.endpoint(server, 9);
        h.give(p, EP, ep, Rights::ALL);
        h.start(server);
        h.start(p);
        assert_eq!(
            h.tick(0),
            Exit::User {
                process: server.obj,
                space: None
            }
        );
        h.syscall(0, ret(0, &[]));
        assert_eq!(h.current(0), Some(p.obj));
        let (last, waiting) = match halted_in {
            "open wait" => (ret(0, &[]), ProcessState::Available),
            "stall" => {
                h.obj(server, order::process::HALT, &[], &[]).unwrap();
                (
                    inv(InvocationKind::Send, EP, 5, &[1], &[], [0; 4]),
                    ProcessState::Stalled,
                )
            }
            _ => (
                inv(InvocationKind::Call, EP, 5, &[1], &[], [0; 4]),
                ProcessState::Waiting,
            ),
        };
        h.syscall(0, last);
        assert_eq!(h.state(p), waiting, "{halted_in}");
        h.obj(p, order::process::HALT, &[], &[]).unwrap();
        h.obj(p, order::process::SET_ENTRY, &[0x7000, 0x7f00, 3], &[])
            .unwrap();
        h.start(p);
        if halted_in == "stall" {
            h.start(server);
        }
        h.tick(0);
        if h.current(0) == Some(server.obj) {
            h.syscall(0, ret(0, &[]));
        }
        assert_eq!(h.current(0), Some(p.obj), "{halted_in}: it runs");
        let r = h.regs[0];
        assert_eq!(
            (r.pc, r.sp, r.sys.rdi, h.state(p)),
            (0x7000, 0x7f00, 3, ProcessState::Running),
            "{halted_in}: at the new entry with the new argument"
        );
        assert_eq!(
            r.sys.rax, last.caps,
            "{halted_in}: rax as it was, no reply or error written over it"
        );
    }
}

/// An order on a capability with words and capabilities, and the error it must get.
type Case<'a> = (Cap, u32, &'a [u64], &'a [Cap], Error);

/// Every bad input to SET_FAULT_ENDPOINT, READ_REGS and WRITE_REGS gets its error code, and a
/// refused write changes no register.
#[test]
fn the_keeper_orders_refuse_bad_input_with_the_right_code() {
    let (mut h, k, fs) = world(1);
    let f = fs[0];
    let page = h.create(CapType::Page);
    let read_only = f.restrict(Rights::READ);
    let write_only = f.restrict(Rights::WRITE);
    let cases: [Case; 11] = [
        (f, order::process::READ_REGS, &[0], &[], Error::BadState),
        (f, order::process::WRITE_REGS, &[0, 1], &[], Error::BadState),
        (k, order::process::READ_REGS, &[0], &[], Error::BadState),
        (
            f,
            order::process::SET_FAULT_ENDPOINT,
            &[],
            &[page],
            Error::WrongType,
        ),
        (
            f,
            order::process::SET_FAULT_ENDPOINT,
            &[],
            &[k],
            Error::WrongType,
        ),
        (
            read_only,
            order::process::SET_FAULT_ENDPOINT,
            &[],
            &[],
            Error::MissingRights,
        ),
        (
            read_only,
            order::process::WRITE_REGS,
            &[0, 1],
            &[],
            Error::MissingRights,
        ),
        (
            write_only,
            order::process::READ_REGS,
            &[0],
            &[],
            Error::MissingRights,
        ),
        (
            f,
            order::process::READ_REGS,
            &[Reg::COUNT],
            &[],
            Error::InvalidArgument,
        ),
        (
            f,
            order::process::READ_REGS,
            &[u64::MAX],
            &[],
            Error::InvalidArgument,
        ),
        (
            f,
            order::process::WRITE_REGS,
            &[Reg::COUNT, 1],
            &[],
            Error::InvalidArgument,
        ),
    ];
    for (cap, o, data, caps, want) in cases {
        assert_eq!(
            h.obj(cap, o, data, caps).map(|_| ()),
            Err(want),
            "order {o} {data:?}"
        );
    }
    h.obj(f, order::process::HALT, &[], &[]).unwrap();
    assert_eq!(
        read_regs(&mut h, f, Reg::Rax),
        Err(Error::BadState),
        "halted, still on its CPU"
    );
    h.tick(0);
    let before = read_regs(&mut h, f, Reg::Rax).unwrap();
    for data in [
        &[][..],
        &[Reg::Rax as u64],
        &[Reg::R15 as u64, 1, 2, 3, 4],
        &[Reg::Rsp as u64, 1, 2, 3],
    ] {
        let r = h.obj(f, order::process::WRITE_REGS, data, &[]).map(|_| ());
        let want = if data.len() > 4 {
            Ok(())
        } else {
            Err(Error::InvalidArgument)
        };
        assert_eq!(r, want, "WRITE_REGS {data:?}");
    }
    assert_eq!(
        read_regs(&mut h, f, Reg::Rax).unwrap(),
        before,
        "a refused write wrote nothing"
    );
    assert_eq!(
        read_regs(&mut h, f, Reg::R15).unwrap(),
        [1, 2, 3, 0],
        "R15, RIP, RSP written (the fourth value is past the four data words); none past RFLAGS"
    );
    assert_eq!(read_regs(&mut h, f, Reg::Rflags).unwrap(), [0, 0, 0, 0]);
    let root = h.root;
    h.obj(root, order::bank::DESTROY, &[], &[f]).unwrap();
    assert_eq!(read_regs(&mut h, f, Reg::Rax), Err(Error::NullCapability));
}

#[test]
fn a_faulter_halted_after_its_wake_up_resumes_at_the_fault_without_sending_it() {
    let (mut h, k, fs) = world(1);
    let f = fs[0];
    h.obj(k, order::process::HALT, &[], &[]).unwrap();
    assert_eq!(
        fault(&mut h, 0, user_regs(0xb000), page_fault(7, 0xb000)),
        Faulted::ToKeeper
    );
    h.start(k);
    assert_eq!(
        h.state(f),
        ProcessState::Running,
        "woken as owner of the keeper's queue, to re-run its fault CALL"
    );
    h.obj(f, order::process::HALT, &[], &[]).unwrap();
    assert_eq!(read_regs(&mut h, f, Reg::Rip).unwrap()[0], 0xb000);
    h.start(f);
    h.tick(0);
    assert_eq!(h.current(0), Some(f.obj));
    assert_eq!(
        h.regs[0],
        user_regs(0xb000),
        "at the fault, its registers intact"
    );
    assert_eq!(
        h.state(k),
        ProcessState::Available,
        "the keeper got no message"
    );
}
