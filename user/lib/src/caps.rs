//! Capability helpers: one function per kernel-object order the programs use, each a CALL on
//! the capability with the order's words (`abi::order`). A returned capability lands in the
//! slot the caller names (`into`); every failure is the kernel's `Error`.
//!
//! Assumes: the slots passed hold capabilities of the type the order is for; a wrong one is
//! refused by the kernel, never trusted here.

use crate::invoke::{call, call_for_cap};
use tessera_abi::fault::Reg;
use tessera_abi::{order, CapType, Error, ProcessInfo, Rights};

/// The type of the capability in `cap` (`GET_TYPE`; Null for a Null slot's answer).
pub fn get_type(cap: u8) -> Result<CapType, Error> {
    let r = call(cap, order::GET_TYPE, &[], &[])?;
    CapType::from_raw(r.data[0]).ok_or(Error::BadMessage)
}

/// Creates an object of `ty` from `bank` into slot `into`.
pub fn create(bank: u8, ty: CapType, into: u8) -> Result<(), Error> {
    call_for_cap(bank, order::bank::CREATE, &[ty as u64, 0], &[], into).map(|_| ())
}

/// Creates a child bank with `quota` units from `bank` into slot `into`.
pub fn create_bank(bank: u8, quota: u64, into: u8) -> Result<(), Error> {
    call_for_cap(
        bank,
        order::bank::CREATE,
        &[CapType::Bank as u64, quota],
        &[],
        into,
    )
    .map(|_| ())
}

/// Destroys the object in slot `cap`, which `bank` created; its quota returns to `bank`.
pub fn destroy(bank: u8, cap: u8) -> Result<(), Error> {
    call(bank, order::bank::DESTROY, &[], &[cap]).map(|_| ())
}

/// Unused quota and live objects of `bank`.
pub fn available(bank: u8) -> Result<(u64, u64), Error> {
    call(bank, order::bank::AVAILABLE, &[], &[]).map(|r| (r.data[0], r.data[1]))
}

/// An endpoint to `process` carrying `badge`, into slot `into`.
pub fn make_endpoint(process: u8, badge: u64, into: u8) -> Result<(), Error> {
    call_for_cap(process, order::process::MAKE_ENDPOINT, &[badge], &[], into).map(|_| ())
}

/// Copies the capability in `cap` into `process`'s slot `slot`, keeping only `rights`.
pub fn set_cap(process: u8, slot: u8, cap: u8, rights: Rights) -> Result<(), Error> {
    call(
        process,
        order::process::SET_CAP,
        &[slot as u64, rights.raw()],
        &[cap],
    )
    .map(|_| ())
}

/// A copy of `process`'s slot `slot`, into slot `into`.
pub fn get_cap(process: u8, slot: u8, into: u8) -> Result<(), Error> {
    call_for_cap(process, order::process::GET_CAP, &[slot as u64], &[], into).map(|_| ())
}

/// Stops `process`.
pub fn halt(process: u8) -> Result<(), Error> {
    call(process, order::process::HALT, &[], &[]).map(|_| ())
}

/// Resumes a halted `process`.
pub fn resume(process: u8) -> Result<(), Error> {
    call(process, order::process::RESUME, &[], &[]).map(|_| ())
}

/// Sets `process`'s priority.
/// Gives up the rest of this process's quantum (`process` must be the caller's own).
pub fn yield_now(process: u8) -> Result<(), Error> {
    call(process, order::process::YIELD, &[], &[]).map(|_| ())
}

pub fn set_priority(process: u8, priority: u64) -> Result<(), Error> {
    call(process, order::process::SET_PRIORITY, &[priority], &[]).map(|_| ())
}

/// Sets `process`'s priority ceiling; the copy of `process` with that ceiling lands in `into`.
pub fn set_ceiling(process: u8, ceiling: u64, into: u8) -> Result<(), Error> {
    call_for_cap(process, order::process::SET_CEILING, &[ceiling], &[], into).map(|_| ())
}

/// Points a halted `process` at `ip` with stack `sp` and `rdi` = `arg`.
pub fn set_entry(process: u8, ip: u64, sp: u64, arg: u64) -> Result<(), Error> {
    call(process, order::process::SET_ENTRY, &[ip, sp, arg], &[]).map(|_| ())
}

/// Makes `process` run in the address space in slot `space`.
pub fn set_space(process: u8, space: u8) -> Result<(), Error> {
    call(process, order::process::SET_SPACE, &[], &[space]).map(|_| ())
}

/// `process`'s `ps` record.
pub fn info(process: u8) -> Result<ProcessInfo, Error> {
    let r = call(process, order::process::INFO, &[], &[])?;
    ProcessInfo::unpack(r.data).ok_or(Error::BadMessage)
}

/// Zeroes the page in slot `page`.
pub fn zero_page(page: u8) -> Result<(), Error> {
    call(page, order::page::ZERO, &[], &[]).map(|_| ())
}

/// Writes `value` at word `index` of the page in slot `page`.
pub fn write_word(page: u8, index: u64, value: u64) -> Result<(), Error> {
    call(page, order::page::WRITE_WORD, &[index, value], &[]).map(|_| ())
}

/// Maps the page in slot `page` at virtual page `vpn` of `space` with `rights`.
pub fn map(space: u8, vpn: u64, page: u8, rights: Rights) -> Result<(), Error> {
    call(space, order::space::MAP, &[vpn, rights.raw()], &[page]).map(|_| ())
}

/// Removes the mapping of virtual page `vpn` from `space`.
pub fn unmap(space: u8, vpn: u64) -> Result<(), Error> {
    call(space, order::space::UNMAP, &[vpn], &[]).map(|_| ())
}

/// Lets `process` use the I/O ports of the range the capability in slot `ports` names.
pub fn grant_io_ports(ports: u8, process: u8) -> Result<(), Error> {
    call(ports, order::io_ports::GRANT, &[], &[process]).map(|_| ())
}

/// Makes the endpoint in slot `endpoint` `process`'s fault endpoint (slot 0: no keeper). Its
/// faults then arrive there as CALLs (`abi::fault`).
pub fn set_fault_endpoint(process: u8, endpoint: u8) -> Result<(), Error> {
    call(
        process,
        order::process::SET_FAULT_ENDPOINT,
        &[],
        &[endpoint],
    )
    .map(|_| ())
}

/// Registers `first` and the three after it (0 past the last) of a `process` that is halted or
/// faulted.
pub fn read_regs(process: u8, first: Reg) -> Result<[u64; 4], Error> {
    call(process, order::process::READ_REGS, &[first as u64], &[]).map(|r| r.data)
}

/// Register `r` of a `process` that is halted or faulted.
pub fn read_reg(process: u8, r: Reg) -> Result<u64, Error> {
    read_regs(process, r).map(|w| w[0])
}

/// Writes `values` (one to three) into register `first` and the ones after it, of a `process`
/// that is halted or faulted.
pub fn write_regs(process: u8, first: Reg, values: &[u64]) -> Result<(), Error> {
    let mut words = [first as u64, 0, 0, 0];
    let n = values.len().min(3);
    words[1..=n].copy_from_slice(&values[..n]);
    call(process, order::process::WRITE_REGS, &words[..=n], &[]).map(|_| ())
}

/// Writes register `r` of a `process` that is halted or faulted.
pub fn write_reg(process: u8, r: Reg, value: u64) -> Result<(), Error> {
    write_regs(process, r, &[value])
}

/// Pins `process` to CPU `cpu` (`order::process::ANY_CPU`: any).
pub fn set_affinity(process: u8, cpu: u64) -> Result<(), Error> {
    call(process, order::process::SET_AFFINITY, &[cpu], &[]).map(|_| ())
}
