//! Kernel object tables are smaller than the banks' quotas together: creating into a full table
//! must be refused, never panic, also when several CPUs create from different banks at once
//! (each bank's lock alone cannot order them; only the reserved slot does).
#![cfg(not(loom))]

mod common;

use common::H;
use tessera_abi::{order, CapType, Error};
use tessera_core::Cap;

const CPUS: usize = 4;
const ROUNDS: usize = 300;

/// Each CPU creates from a bank of its own until refused, then destroys what it made; the table
/// must fill exactly, every refusal must be `OutOfQuota`, and the banks must balance again.
#[test]
fn creating_into_a_full_table_from_many_banks_is_refused_not_a_panic() {
    let mut h = H::new(CPUS, 64, 10_000, 4);
    for ty in [CapType::Process, CapType::AddressSpace, CapType::CapPage] {
        let banks: Vec<Cap> = (0..CPUS)
            .map(|_| {
                let root = h.root;
                h.obj(
                    root,
                    order::bank::CREATE,
                    &[CapType::Bank as u64, 1000],
                    &[],
                )
                .unwrap()
                .1
                .unwrap()
            })
            .collect();
        let mut cpus = std::mem::take(&mut h.cpus);
        for round in 0..ROUNDS {
            let k = &h.k;
            let made: Vec<Vec<Cap>> = std::thread::scope(|sc| {
                let workers: Vec<_> = cpus
                    .iter_mut()
                    .zip(&banks)
                    .map(|(cpu, &bank)| {
                        sc.spawn(move || {
                            let mut mine = Vec::new();
                            loop {
                                match k.kernel_invoke(
                                    cpu,
                                    bank,
                                    order::bank::CREATE,
                                    &[ty as u64],
                                    &[],
                                ) {
                                    Ok((_, Some(c))) => mine.push(c),
                                    Err(Error::OutOfQuota) => return mine,
                                    other => panic!("{ty:?} round {round}: CREATE gave {other:?}"),
                                }
                            }
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join().unwrap()).collect()
            });
            let total: usize = made.iter().map(Vec::len).sum();
            let full = match ty {
                CapType::Process => 16,
                CapType::AddressSpace | CapType::CapPage => 8,
                _ => unreachable!(),
            };
            assert_eq!(total, full, "{ty:?} round {round}: the table fills exactly");
            for (cpu, (bank, objs)) in cpus.iter_mut().zip(banks.iter().zip(made)) {
                for o in objs {
                    h.k.kernel_invoke(cpu, *bank, order::bank::DESTROY, &[], &[o])
                        .unwrap();
                }
            }
        }
        h.cpus = cpus;
        for bank in banks {
            let (d, _) = h.obj(bank, order::bank::AVAILABLE, &[], &[]).unwrap();
            assert_eq!(d[..2], [1000, 0], "{ty:?}: the bank got every unit back");
            let root = h.root;
            h.obj(root, order::bank::DESTROY, &[], &[bank]).unwrap();
        }
        h.k.check_invariants(&h.cpus).unwrap();
    }
}
