//! Page, address-space and capability-page orders (`tessera_abi::order::{page, space,
//! cap_page}`).
//!
//! # Guarantees
//! - A mapping record is made only with a page capability holding the rights it grants.
//! - Removing a record tells the platform first-hand, so no derived page table outlives it.

use tessera_abi::cap::CAP_PAGE_SLOTS;
use tessera_abi::order::space::{MAX_MAPPINGS, USER_PAGES};
use tessera_abi::{order, CapType, Error, Rights};

use crate::cap::Cap;
use crate::cpu::Cpu;
use crate::invoke::object::{need, KReply, OrderResult};
use crate::invoke::Msg;
use crate::kernel::Kernel;
use crate::lock_key::LockKey;
use crate::object::memory::Mapping;
use crate::platform::Platform;

/// Words in a page.
const PAGE_WORDS: u64 = 512;

impl<P: Platform> Kernel<P> {
    pub(crate) fn page_order(&self, cpu: &mut Cpu, cap: Cap, msg: &Msg) -> OrderResult {
        let needed = match msg.order {
            order::page::READ_WORD => Rights::READ,
            order::page::ZERO | order::page::WRITE_WORD => Rights::WRITE,
            _ => return Ok(Err(Error::UnknownOrder)),
        };
        if let Err(e) = need(&cap, needed) {
            return Ok(Err(e));
        }
        let word = msg.data[0];
        if msg.order != order::page::ZERO && word >= PAGE_WORDS {
            return Ok(Err(Error::InvalidArgument));
        }
        if needed == Rights::READ {
            cpu.held.read(self, LockKey::page(cap.obj.index))?;
        } else {
            cpu.held.write(self, LockKey::page(cap.obj.index))?;
        }
        let Some(frame) = self.pages.read(cap.obj, |p| p.frame) else {
            return Ok(Err(Error::NullCapability));
        };
        // COMMIT POINT: the page is locked and the offset checked.
        let w = word as usize;
        Ok(Ok(match msg.order {
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
        }))
    }

    pub(crate) fn space_order(&self, cpu: &mut Cpu, cap: Cap, msg: &Msg) -> OrderResult {
        let needed = match msg.order {
            order::space::LOOKUP => Rights::READ,
            order::space::MAP | order::space::UNMAP => Rights::WRITE,
            _ => return Ok(Err(Error::UnknownOrder)),
        };
        if let Err(e) = need(&cap, needed) {
            return Ok(Err(e));
        }
        let vpn = msg.data[0];
        if vpn >= USER_PAGES {
            return Ok(Err(Error::InvalidArgument));
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
                Ok(Ok(KReply::words([live, 0, 0, 0])))
            }
            order::space::UNMAP => {
                cpu.held.write(self, LockKey::space(space.index))?;
                if self.spaces.read(space, |s| s.mappings.contains_key(&vpn)) != Some(true) {
                    return Ok(Err(Error::BadState));
                }
                // COMMIT POINT: the space is locked and the record exists.
                self.spaces.write(space, |s| s.mappings.remove(&vpn));
                self.platform.mapping_removed(space, vpn);
                Ok(Ok(KReply::default()))
            }
            _ => self.map(cpu, cap, vpn, msg),
        }
    }

    fn map(&self, cpu: &mut Cpu, space: Cap, vpn: u64, msg: &Msg) -> OrderResult {
        let page = msg.caps[0];
        let Some(rights) = Rights::from_raw(msg.data[1]).filter(|r| *r != Rights::NONE) else {
            return Ok(Err(Error::InvalidArgument));
        };
        if page.ty != CapType::Page {
            return Ok(Err(if page.is_null() {
                Error::NullArgument
            } else {
                Error::WrongType
            }));
        }
        if let Err(e) = need(&page, rights) {
            return Ok(Err(e));
        }
        cpu.held.write(self, LockKey::space(space.obj.index))?;
        cpu.held.read(self, LockKey::page(page.obj.index))?;
        let Some(frame) = self.pages.read(page.obj, |p| p.frame) else {
            return Ok(Err(Error::NullArgument));
        };
        self.pages.pin(page.obj.index).pin(cpu.id, &self.txns);
        let state = self.spaces.write(space.obj, |s| {
            let taken = s
                .mappings
                .get(&vpn)
                .is_some_and(|m| self.pages.is_live(m.page));
            let full = !s.mappings.contains_key(&vpn) && s.mappings.len() >= MAX_MAPPINGS;
            (taken, full || !s.mappings.reserve_one())
        });
        match state {
            None => return Ok(Err(Error::NullCapability)),
            Some((true, _)) => return Ok(Err(Error::BadState)),
            Some((_, true)) => return Ok(Err(Error::OutOfQuota)),
            Some(_) => {}
        }
        // COMMIT POINT: space and page are locked, the slot is free and room is left.
        let stale = self.spaces.write(space.obj, |s| {
            s.mappings.insert(
                vpn,
                Mapping {
                    page: page.obj,
                    frame,
                    rights,
                },
            )
        });
        if let Some(Some(_)) = stale {
            self.platform.mapping_removed(space.obj, vpn);
        }
        Ok(Ok(KReply::default()))
    }

    pub(crate) fn cap_page_order(&self, cpu: &mut Cpu, cap: Cap, msg: &Msg) -> OrderResult {
        let needed = match msg.order {
            order::cap_page::LOAD => Rights::READ,
            order::cap_page::STORE => Rights::WRITE,
            _ => return Ok(Err(Error::UnknownOrder)),
        };
        if let Err(e) = need(&cap, needed) {
            return Ok(Err(e));
        }
        let Some(slot) = usize::try_from(msg.data[0])
            .ok()
            .filter(|&s| s < CAP_PAGE_SLOTS)
        else {
            return Ok(Err(Error::InvalidArgument));
        };
        if needed == Rights::READ {
            cpu.held.read(self, LockKey::cap_page(cap.obj.index))?;
            // COMMIT POINT: a read-only order.
            Ok(self
                .cap_pages
                .read(cap.obj, |c| KReply::cap(c.caps[slot]))
                .ok_or(Error::NullCapability))
        } else {
            cpu.held.write(self, LockKey::cap_page(cap.obj.index))?;
            // COMMIT POINT: the capability page is locked and the slot checked.
            Ok(self
                .cap_pages
                .write(cap.obj, |c| c.caps[slot] = msg.caps[0])
                .map(|()| KReply::default())
                .ok_or(Error::NullCapability))
        }
    }
}
