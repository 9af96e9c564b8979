//! Page, address-space and capability-page orders (`tessera_abi::order::{page, space,
//! cap_page}`).
//!
//! # Guarantees
//! - A mapping record is made only with a page capability holding the rights it grants.
//! - Removing a record tells the platform first-hand, so no derived page table outlives it.
//! - The page's reverse map follows its records: MAP adds the entry and UNMAP removes it under
//!   the page's write lock (lock order: the page's key is below the space's, so MAP takes both
//!   in ascending order and UNMAP, which learns the page from the space, only tries the page
//!   and restarts if it is busy).

use tessera_abi::cap::CAP_PAGE_SLOTS;
use tessera_abi::order::space::{MAX_MAPPINGS, USER_PAGES};
use tessera_abi::{order, CapType, Error, Rights};

use crate::cap::Cap;
use crate::cpu::Cpu;
use crate::invoke::object::{need, KReply, OrderResult};
use crate::invoke::Msg;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::memory::MAX_PAGE_MAPPINGS;
use crate::object::memory::{Mapping, Page};
use crate::outcome::Refusal;
use crate::platform::Platform;
use crate::sync::LockMode;

/// Words in a page.
pub(crate) const PAGE_WORDS: u64 = 512;

impl<P: Platform> Kernel<P> {
    pub(crate) fn page_order(&self, cpu: &mut Cpu, cap: Cap, msg: &Msg) -> OrderResult {
        let needed = match msg.order {
            order::page::READ_WORD => Rights::READ,
            order::page::ZERO | order::page::WRITE_WORD => Rights::WRITE,
            _ => return Err(Error::UnknownOrder.into()),
        };
        need(&cap, needed)?;
        let word = msg.data[0];
        if msg.order != order::page::ZERO && word >= PAGE_WORDS {
            return Err(Error::InvalidArgument.into());
        }
        if needed == Rights::READ {
            cpu.held.read(self, LockKey::page(cap.obj.index))?;
        } else {
            cpu.held.write(self, LockKey::page(cap.obj.index))?;
        }
        let Some(frame) = self.pages.read(cap.obj, |p| p.frame) else {
            return Err(Error::NullCapability.into());
        };
        // COMMIT POINT: the page is locked and the offset checked.
        let w = word as usize;
        Ok(match msg.order {
            order::page::ZERO => {
                self.platform.zero_frame(frame);
                KReply::default()
            }
            order::page::READ_WORD => {
                KReply::words([self.platform.read_frame_word(frame, w), 0, 0, 0])
            }
            _ => {
                self.platform.write_frame_word(frame, w, msg.data[1]);
                KReply::default()
            }
        })
    }

    pub(crate) fn space_order(&self, cpu: &mut Cpu, cap: Cap, msg: &Msg) -> OrderResult {
        let needed = match msg.order {
            order::space::LOOKUP => Rights::READ,
            order::space::MAP | order::space::UNMAP => Rights::WRITE,
            _ => return Err(Error::UnknownOrder.into()),
        };
        need(&cap, needed)?;
        let vpn = msg.data[0];
        if vpn >= USER_PAGES {
            return Err(Error::InvalidArgument.into());
        }
        let space = cap.obj;
        match msg.order {
            order::space::LOOKUP => {
                cpu.held.read(self, LockKey::space(space.index))?;
                // COMMIT POINT: a read-only order.
                let rights = self
                    .spaces
                    .read(space, |s| s.mappings.get(&vpn).copied())
                    .flatten();
                let live = rights
                    .filter(|m| self.pages.is_live(m.page))
                    .map_or(0, |m| m.rights.raw());
                Ok(KReply::words([live, 0, 0, 0]))
            }
            order::space::UNMAP => {
                cpu.held.write(self, LockKey::space(space.index))?;
                let Some((Some(m), bank, refund)) = self.spaces.read(space, |s| {
                    (s.mappings.get(&vpn).copied(), s.bank, s.unmap_refund())
                }) else {
                    return Err(Error::BadState.into());
                };
                if self.pages.is_live(m.page) {
                    cpu.held.write(self, LockKey::page(m.page.index))?;
                }
                cpu.held.write(self, LockKey::bank(bank.index))?;
                // COMMIT POINT: the space, its bank (and its page, if live) are locked and the
                // record exists.
                self.spaces.write(space, |s| {
                    s.mappings.remove(&vpn);
                    s.charged -= refund;
                });
                self.banks.write(bank, |b| b.refund_some(refund));
                self.pages.write(m.page, |p| p.rmap.remove(space, vpn));
                self.platform.mapping_removed(space, vpn);
                Ok(KReply::default())
            }
            _ => self.map(cpu, cap, vpn, msg),
        }
    }

    fn map(&self, cpu: &mut Cpu, space: Cap, vpn: u64, msg: &Msg) -> OrderResult {
        let page = msg.caps[0];
        let Some(rights) = Rights::from_raw(msg.data[1]).filter(|r| *r != Rights::NONE) else {
            return Err(Error::InvalidArgument.into());
        };
        if page.ty != CapType::Page {
            return Err(Refusal::Error(if page.is_null() {
                Error::NullArgument
            } else {
                Error::WrongType
            }));
        }
        need(&page, rights)?;
        cpu.held.lock_in_order(
            self,
            (LockKey::page(page.obj.index), LockMode::Write),
            (LockKey::space(space.obj.index), LockMode::Write),
        )?;
        let room = self.pages.write(page.obj, |p| {
            p.rmap.prune(
                |s| !self.spaces.is_live(s),
                |s, v| self.platform.mapping_removed(s, v),
            );
            (
                p.frame,
                p.rmap.len() < MAX_PAGE_MAPPINGS && p.rmap.reserve_one(),
            )
        });
        let frame = match room {
            None => return Err(Error::NullArgument.into()),
            Some((_, false)) => return Err(Error::OutOfQuota.into()),
            Some((frame, true)) => frame,
        };
        self.pages.pin(page.obj.index).pin(cpu.id, &self.txns);
        let Some(bank) = self.spaces.read(space.obj, |s| s.bank) else {
            return Err(Error::NullCapability.into());
        };
        // Below the page and space keys: only tried, and a busy bank restarts the path.
        cpu.held.write(self, LockKey::bank(bank.index))?;
        let state = self.spaces.write(space.obj, |s| {
            let taken = s
                .mappings
                .get(&vpn)
                .is_some_and(|m| self.pages.is_live(m.page));
            let full = !s.mappings.contains_key(&vpn) && s.mappings.len() >= MAX_MAPPINGS;
            let room = !full && s.mappings.reserve_one() && s.reserve_regions();
            (taken, room, s.map_cost(vpn))
        });
        let Some((taken, room, cost)) = state else {
            return Err(Error::NullCapability.into());
        };
        let affordable = self.banks.read(bank, |b| b.can_charge(cost)) == Some(true);
        if taken {
            return Err(Error::BadState.into());
        }
        if !room || !affordable {
            return Err(Error::OutOfQuota.into());
        }
        // COMMIT POINT: space, page and the space's bank are locked, the slot is free, room is
        // left in both and the bank can pay.
        self.banks.write(bank, |b| b.charge_more(cost));
        let stale = self.spaces.write(space.obj, |s| {
            s.mapped(vpn, cost);
            s.mappings.insert(
                vpn,
                Mapping {
                    page: page.obj,
                    frame,
                    rights,
                },
            )
        });
        self.pages
            .write(page.obj, |p| p.rmap.insert(space.obj, vpn));
        if let Some(Some(_)) = stale {
            self.platform.mapping_removed(space.obj, vpn);
        }
        Ok(KReply::default())
    }

    /// Drops every derived mapping of page `p`, destroyed under its write lock, in every space
    /// its reverse map names (stale entries of destroyed spaces cost the platform a lookup).
    pub(crate) fn drop_derived_mappings(&self, p: &Page) {
        #[cfg(feature = "planted-bugs")]
        if self.planted_is(crate::planted::PlantedBug::KeepMappingsOfDestroyedPage) {
            return;
        }
        for (space, vpn) in p.rmap.iter() {
            self.platform.mapping_removed(space, vpn);
        }
    }

    pub(crate) fn cap_page_order(&self, cpu: &mut Cpu, cap: Cap, msg: &Msg) -> OrderResult {
        let needed = match msg.order {
            order::cap_page::LOAD => Rights::READ,
            order::cap_page::STORE => Rights::WRITE,
            _ => return Err(Error::UnknownOrder.into()),
        };
        need(&cap, needed)?;
        let Some(slot) = usize::try_from(msg.data[0])
            .ok()
            .filter(|&s| s < CAP_PAGE_SLOTS)
        else {
            return Err(Error::InvalidArgument.into());
        };
        if needed == Rights::READ {
            cpu.held.read(self, LockKey::cap_page(cap.obj.index))?;
            // COMMIT POINT: a read-only order.
            self.cap_pages
                .read(cap.obj, |c| KReply::cap(c.caps[slot]))
                .ok_or(Error::NullCapability.into())
        } else {
            cpu.held.write(self, LockKey::cap_page(cap.obj.index))?;
            // COMMIT POINT: the capability page is locked and the slot checked.
            self.cap_pages
                .write(cap.obj, |c| c.caps[slot] = msg.caps[0])
                .map(|()| KReply::default())
                .ok_or(Error::NullCapability.into())
        }
    }
}
