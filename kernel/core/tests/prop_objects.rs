//! Property tests of the object operations: bank accounting under any sequence of creates and
//! destroys, address-space mapping records against a model, and arbitrary registers never
//! panicking the kernel.
#![cfg(not(loom))] // these run the whole kernel; loom models only the lock primitives

mod common;

use std::collections::BTreeMap;

use common::{call, H};
use proptest::prelude::*;
use tessera_abi::message::Invocation;
use tessera_abi::{order, CapType, Error, Rights};
use tessera_core::Cap;

const TYPES: [CapType; 5] = [
    CapType::Process,
    CapType::Page,
    CapType::AddressSpace,
    CapType::CapPage,
    CapType::Bank,
];

#[derive(Clone, Debug)]
enum BankOp {
    Create(usize, u64),
    Destroy(usize),
}

fn bank_op() -> impl Strategy<Value = BankOp> {
    prop_oneof![
        (0..TYPES.len(), 0..4u64).prop_map(|(t, q)| BankOp::Create(t, q)),
        (0..64usize).prop_map(BankOp::Destroy),
    ]
}

proptest! {
    #[test]
    fn banks_balance_under_any_creates_and_destroys(ops in prop::collection::vec(bank_op(), 1..60)) {
        let mut h = H::new(1, 12, 30, 2);
        let root = h.root;
        let mut live: Vec<(Cap, u64)> = Vec::new();
        for op in ops {
            match op {
                BankOp::Create(t, q) => {
                    let ty = TYPES[t];
                    let cost = if ty == CapType::Bank { q + 1 } else { 1 };
                    match h.obj(root, order::bank::CREATE, &[ty as u64, q], &[]) {
                        Ok((_, Some(c))) => live.push((c, cost)),
                        Ok(other) => prop_assert!(false, "create returned {other:?}"),
                        Err(e) => prop_assert_eq!(e, Error::OutOfQuota),
                    }
                }
                BankOp::Destroy(i) if !live.is_empty() => {
                    let (c, _) = live.remove(i % live.len());
                    prop_assert!(h.obj(root, order::bank::DESTROY, &[], &[c]).is_ok());
                    prop_assert_eq!(h.obj(root, order::bank::DESTROY, &[], &[c]), Err(Error::NullArgument));
                }
                BankOp::Destroy(_) => {}
            }
            h.k.check_invariants(&h.cpus).map_err(TestCaseError::fail)?;
            let (avail, _) = h.obj(root, order::bank::AVAILABLE, &[], &[]).unwrap();
            let used: u64 = live.iter().map(|(_, c)| c).sum();
            prop_assert_eq!(avail[0], 30 - used);
            prop_assert_eq!(avail[1], live.len() as u64);
        }
    }

    #[test]
    fn mapping_records_follow_a_model(ops in prop::collection::vec((0..3u8, 0..8u64, 1..8u64), 1..80)) {
        let mut h = H::new(1, 4, 30, 2);
        let space = h.create(CapType::AddressSpace);
        let page = h.create(CapType::Page);
        let mut model: BTreeMap<u64, u64> = BTreeMap::new();
        for (op, vpn, rights) in ops {
            match op {
                0 => {
                    let r = h.obj(space, order::space::MAP, &[vpn, rights], &[page]);
                    if let std::collections::btree_map::Entry::Vacant(e) = model.entry(vpn) {
                        prop_assert!(r.is_ok());
                        e.insert(rights);
                    } else {
                        prop_assert_eq!(r.unwrap_err(), Error::BadState);
                    }
                }
                1 => {
                    let r = h.obj(space, order::space::UNMAP, &[vpn], &[]);
                    prop_assert_eq!(r.is_ok(), model.remove(&vpn).is_some());
                }
                _ => {
                    let (d, _) = h.obj(space, order::space::LOOKUP, &[vpn], &[]).unwrap();
                    prop_assert_eq!(d[0], model.get(&vpn).copied().unwrap_or(0));
                }
            }
        }
    }

    #[test]
    fn arbitrary_registers_get_a_defined_answer(regs in prop::collection::vec(any::<[u64; 7]>(), 1..40)) {
        let mut h = H::new(1, 8, 20, 2);
        let p = h.process(0);
        let page = h.create(CapType::Page);
        let root = h.root;
        h.give(p, 1, root, Rights::ALL);
        h.give(p, 4, page, Rights::ALL);
        h.start(p);
        h.tick(0);
        for r in regs {
            if h.current(0) != Some(p.obj) {
                break;
            }
            let cap = [0, 1, 4, 63, r[0]][(r[0] % 5) as usize];
            let i = Invocation { cap, info: r[1] & !(1 << 12), data: [r[2], r[3], r[4], r[5]], caps: r[6] };
            h.syscall(0, i);
            let e = h.reply(0).error;
            prop_assert!(e == 0 || Error::from_raw(e).is_some(), "undefined code {}", e);
        }
        h.syscall(0, call(1, order::bank::AVAILABLE, &[], &[], 0));
    }
}
