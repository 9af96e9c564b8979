//! Bank orders: CREATE, DESTROY, AVAILABLE (`tessera_abi::order::bank`).
//!
//! # Guarantees
//! - An object is created only after its bank has been charged for it, and its cost returns
//!   to that bank when it is destroyed: bank accounting balances at every step.
//! - The new object's table slot is reserved, and a page's frame allocated (running the cleaner
//!   if the platform has none free), in the prepare phase as its last step: a full table or no
//!   frame is refused with `OutOfQuota` and leaves no trace, never a kernel panic.
//! - Destroying a page first drops every derived mapping of it, in every space (its reverse
//!   map), so no process reaches its frame once the platform reuses it; destroying a space
//!   drops all its derived tables, the platform's upper levels and root included; destroying
//!   an alarm takes it out of its CPU's alarm queue, so it never fires.

use tessera_abi::{order, CapType, Error, Rights};

use crate::cap::{Cap, ObjId};
use crate::cpu::Cpu;
use crate::invoke::object::{need, KReply, OrderResult};
use crate::invoke::Msg;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::alarm::Alarm;
use crate::object::bank::{cost, Bank};
use crate::object::memory::{CapPage, Page, Space};
use crate::object::process::Process;
use crate::outcome::Refusal;
use crate::platform::{Frame, Platform};
use crate::table::Reservation;

/// What bank CREATE reserves in its prepare phase for the object it makes.
enum NewSlot<'k> {
    Page(Reservation<'k, Page>, Frame),
    Process(Reservation<'k, Process>),
    Space(Reservation<'k, Space>),
    CapPage(Reservation<'k, CapPage>),
    Alarm(Reservation<'k, Alarm>),
    Bank(Reservation<'k, Bank>),
}

impl<P: Platform> Kernel<P> {
    pub(crate) fn bank_order(&self, cpu: &mut Cpu, bank: Cap, msg: &Msg) -> OrderResult {
        match msg.order {
            order::bank::CREATE => self.create(cpu, bank, msg),
            order::bank::DESTROY => self.destroy(cpu, bank, msg),
            order::bank::AVAILABLE => {
                need(&bank, Rights::READ)?;
                cpu.held.read(self, LockKey::bank(bank.obj.index))?;
                // COMMIT POINT: a read-only order.
                self.banks
                    .read(bank.obj, |b| {
                        KReply::words([b.available(), b.objects, 0, 0])
                    })
                    .ok_or(Error::NullCapability.into())
            }
            _ => Err(Error::UnknownOrder.into()),
        }
    }

    fn create(&self, cpu: &mut Cpu, bank: Cap, msg: &Msg) -> OrderResult {
        need(&bank, Rights::WRITE)?;
        let Some(ty) = CapType::from_raw(msg.data[0]) else {
            return Err(Error::InvalidArgument.into());
        };
        let Some(units) = cost(ty, msg.data[1]) else {
            return Err(Error::InvalidArgument.into());
        };
        cpu.held.write(self, LockKey::bank(bank.obj.index))?;
        let Some(affordable) = self.banks.read(bank.obj, |b| b.can_charge(units)) else {
            return Err(Error::NullCapability.into());
        };
        if !affordable {
            return Err(Error::OutOfQuota.into());
        }
        // The table slot is reserved here, not looked at: banks with room of their own may
        // create on other CPUs at once, and kernel tables are smaller than all quotas together.
        let Some(slot) = self.reserve_slot(ty) else {
            return Err(Error::OutOfQuota.into());
        };
        // COMMIT POINT: the bank can pay, a slot is reserved, the frame (if any) is in hand.
        self.banks.write(bank.obj, |b| b.charge(units));
        let b = bank.obj;
        let id = match slot {
            NewSlot::Page(r, frame) => {
                self.platform.zero_frame(frame);
                r.fill(Page::new(frame, b))
            }
            NewSlot::Process(r) => {
                let mut p = Process::new(b, self.next_home(), r.index());
                p.ceiling = msg.ceiling;
                let id = r.fill(p);
                // A reused slot's registers are its last process's: a new one starts clean.
                self.saves.with(id, |regs| *regs = P::SaveArea::default());
                return Ok(KReply::cap(Cap::process(id, msg.ceiling)));
            }
            NewSlot::Space(r) => r.fill(Space::new(b)),
            NewSlot::CapPage(r) => r.fill(CapPage::new(b)),
            NewSlot::Alarm(r) => r.fill(Alarm::new(b)),
            NewSlot::Bank(r) => r.fill(Bank::new(msg.data[1], Some(b))),
        };
        Ok(KReply::cap(Cap::new(ty, id)))
    }

    /// A slot in the table of `ty` (a bankable type), with a page's frame; `None` if the
    /// table is full or no frame is left. Dropped unused, it gives everything back.
    fn reserve_slot(&self, ty: CapType) -> Option<NewSlot<'_>> {
        Some(match ty {
            CapType::Page => {
                let r = self.pages.reserve()?;
                NewSlot::Page(r, self.alloc_frame()?)
            }
            CapType::Process => NewSlot::Process(self.processes.reserve()?),
            CapType::AddressSpace => NewSlot::Space(self.spaces.reserve()?),
            CapType::CapPage => NewSlot::CapPage(self.cap_pages.reserve()?),
            CapType::Alarm => NewSlot::Alarm(self.alarms.reserve()?),
            _ => NewSlot::Bank(self.banks.reserve()?),
        })
    }

    fn destroy(&self, cpu: &mut Cpu, bank: Cap, msg: &Msg) -> OrderResult {
        need(&bank, Rights::WRITE)?;
        let victim = msg.caps[0];
        if !matches!(
            victim.ty,
            CapType::Process
                | CapType::Page
                | CapType::AddressSpace
                | CapType::CapPage
                | CapType::Alarm
                | CapType::Bank
        ) {
            return Err(Refusal::Error(if victim.is_null() {
                Error::NullArgument
            } else {
                Error::WrongType
            }));
        }
        if !self.is_live(&victim) {
            return Err(Error::NullArgument.into());
        }
        cpu.held.write(self, LockKey::bank(bank.obj.index))?;
        let Some(key) = self.key_of(&victim) else {
            return Err(Error::NullArgument.into());
        };
        cpu.held.write(self, key)?;
        let owner = match victim.ty {
            CapType::Process => self.processes.read(victim.obj, |p| p.bank),
            CapType::Page => self.pages.read(victim.obj, |p| p.bank),
            CapType::AddressSpace => self.spaces.read(victim.obj, |s| s.bank),
            CapType::CapPage => self.cap_pages.read(victim.obj, |c| c.bank),
            CapType::Alarm => self.alarms.read(victim.obj, |a| a.bank),
            _ => self
                .banks
                .read(victim.obj, |c| c.parent.unwrap_or(ObjId::NONE)),
        };
        match owner {
            None => return Err(Error::NullArgument.into()),
            Some(o) if o != bank.obj => return Err(Error::NotOwner.into()),
            Some(_) => {}
        }
        let units = match victim.ty {
            CapType::Bank => match self.banks.read(victim.obj, |c| (c.objects, c.quota)) {
                Some((0, quota)) => quota + 1,
                _ => return Err(Error::BadState.into()),
            },
            CapType::AddressSpace => 1 + self.spaces.read(victim.obj, |s| s.charged).unwrap_or(0),
            _ => 1,
        };
        if victim.ty == CapType::Process {
            if let Some(halted) = self.stop_before_destroy(cpu, victim.obj, msg.caller)? {
                return Ok(halted);
            }
            self.prepare_detach(cpu, victim.obj, true)?;
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
            CapType::Alarm => {
                if let Some(a) = self.alarms.remove(victim.obj) {
                    self.unqueue_alarm(victim.obj.index, a.armed);
                }
            }
            _ => {
                self.banks.remove(victim.obj);
            }
        }
        self.banks.write(bank.obj, |b| b.refund(units));
        Ok(KReply::default())
    }
}
