//! Bank orders: CREATE, DESTROY, AVAILABLE (`tessera_abi::order::bank`).
//!
//! # Guarantees
//! - An object is created only after its bank has been charged for it, and its cost returns
//!   to that bank when it is destroyed: bank accounting balances at every step.
//! - Destroying a page first drops every derived mapping of it, in every space (its reverse
//!   map), so no process reaches its frame once the platform reuses it; destroying a space
//!   drops all its derived tables, the platform's upper levels and root included.
//! - A page's frame is allocated in the prepare phase (running the cleaner if the platform has
//!   none free), as the last step before the commit point, so a failure leaves no trace.

use tessera_abi::{order, CapType, Error, Rights};

use crate::cap::{Cap, ObjId};
use crate::cpu::Cpu;
use crate::invoke::object::{need, KReply, OrderResult};
use crate::invoke::Msg;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::bank::{cost, Bank};
use crate::object::memory::{CapPage, Page, Space};
use crate::object::process::Process;
use crate::platform::Platform;

impl<P: Platform> Kernel<P> {
    pub(crate) fn bank_order(&self, cpu: &mut Cpu, bank: Cap, msg: &Msg) -> OrderResult {
        match msg.order {
            order::bank::CREATE => self.create(cpu, bank, msg),
            order::bank::DESTROY => self.destroy(cpu, bank, msg),
            order::bank::AVAILABLE => {
                if let Err(e) = need(&bank, Rights::READ) {
                    return Ok(Err(e));
                }
                cpu.held.read(self, LockKey::bank(bank.obj.index))?;
                // COMMIT POINT: a read-only order.
                Ok(self
                    .banks
                    .read(bank.obj, |b| {
                        KReply::words([b.available(), b.objects, 0, 0])
                    })
                    .ok_or(Error::NullCapability))
            }
            _ => Ok(Err(Error::UnknownOrder)),
        }
    }

    fn create(&self, cpu: &mut Cpu, bank: Cap, msg: &Msg) -> OrderResult {
        if let Err(e) = need(&bank, Rights::WRITE) {
            return Ok(Err(e));
        }
        let Some(ty) = CapType::from_raw(msg.data[0]) else {
            return Ok(Err(Error::InvalidArgument));
        };
        let Some(units) = cost(ty, msg.data[1]) else {
            return Ok(Err(Error::InvalidArgument));
        };
        cpu.held.write(self, LockKey::bank(bank.obj.index))?;
        let Some(affordable) = self.banks.read(bank.obj, |b| b.can_charge(units)) else {
            return Ok(Err(Error::NullCapability));
        };
        let free = match ty {
            CapType::Process => self.processes.free_slots(),
            CapType::Page => self.pages.free_slots(),
            CapType::AddressSpace => self.spaces.free_slots(),
            CapType::CapPage => self.cap_pages.free_slots(),
            _ => self.banks.free_slots(),
        };
        if !affordable || free == 0 {
            return Ok(Err(Error::OutOfQuota));
        }
        let frame = if ty == CapType::Page {
            match self.alloc_frame() {
                Some(f) => Some(f),
                None => return Ok(Err(Error::OutOfQuota)),
            }
        } else {
            None
        };
        // COMMIT POINT: the bank can pay, a slot is free, the frame (if any) is in hand.
        self.banks.write(bank.obj, |b| b.charge(units));
        let b = bank.obj;
        let id = match (ty, frame) {
            (CapType::Page, Some(frame)) => {
                self.platform.zero_frame(frame);
                self.pages.insert(Page::new(frame, b))
            }
            (CapType::Process, _) => self.processes.insert(Process::new(b, self.next_home())),
            (CapType::AddressSpace, _) => self.spaces.insert(Space::new(b)),
            (CapType::CapPage, _) => self.cap_pages.insert(CapPage::new(b)),
            _ => self.banks.insert(Bank::new(msg.data[1], Some(b))),
        };
        let Some(id) = id else {
            panic!("{ty:?} table smaller than the banks' quota (boot configuration bug)");
        };
        Ok(Ok(KReply::cap(Cap::new(ty, id))))
    }

    fn destroy(&self, cpu: &mut Cpu, bank: Cap, msg: &Msg) -> OrderResult {
        if let Err(e) = need(&bank, Rights::WRITE) {
            return Ok(Err(e));
        }
        let victim = msg.caps[0];
        if !matches!(
            victim.ty,
            CapType::Process
                | CapType::Page
                | CapType::AddressSpace
                | CapType::CapPage
                | CapType::Bank
        ) {
            return Ok(Err(if victim.is_null() {
                Error::NullArgument
            } else {
                Error::WrongType
            }));
        }
        if !self.is_live(&victim) {
            return Ok(Err(Error::NullArgument));
        }
        cpu.held.write(self, LockKey::bank(bank.obj.index))?;
        let Some(key) = self.key_of(&victim) else {
            return Ok(Err(Error::NullArgument));
        };
        cpu.held.write(self, key)?;
        let owner = match victim.ty {
            CapType::Process => self.processes.read(victim.obj, |p| p.bank),
            CapType::Page => self.pages.read(victim.obj, |p| p.bank),
            CapType::AddressSpace => self.spaces.read(victim.obj, |s| s.bank),
            CapType::CapPage => self.cap_pages.read(victim.obj, |c| c.bank),
            _ => self
                .banks
                .read(victim.obj, |c| c.parent.unwrap_or(ObjId::NONE)),
        };
        match owner {
            None => return Ok(Err(Error::NullArgument)),
            Some(o) if o != bank.obj => return Ok(Err(Error::NotOwner)),
            Some(_) => {}
        }
        let units = match victim.ty {
            CapType::Bank => match self.banks.read(victim.obj, |c| (c.objects, c.quota)) {
                Some((0, quota)) => quota + 1,
                _ => return Ok(Err(Error::BadState)),
            },
            _ => 1,
        };
        if victim.ty == CapType::Process {
            if let Err(e) = self.prepare_detach(cpu, victim.obj, true)? {
                return Ok(Err(e));
            }
        }
        // COMMIT POINT: bank and victim are locked, the victim is this bank's and may go.
        match victim.ty {
            CapType::Process => self.destroy_process(cpu, victim.obj),
            CapType::Page => {
                if let Some(p) = self.pages.remove(victim.obj) {
                    self.drop_derived_mappings(&p);
                    self.platform.frame_freed(p.frame);
                }
            }
            CapType::AddressSpace => {
                if self.spaces.remove(victim.obj).is_some() {
                    self.platform.space_destroyed(victim.obj);
                    self.drop_derived_tables(victim.obj);
                }
            }
            CapType::CapPage => {
                self.cap_pages.remove(victim.obj);
            }
            _ => {
                self.banks.remove(victim.obj);
            }
        }
        self.banks.write(bank.obj, |b| b.refund(units));
        Ok(Ok(KReply::default()))
    }
}
