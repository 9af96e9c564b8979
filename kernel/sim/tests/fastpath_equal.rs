//! The fast paths are the general path, faster: the simulator's one-CPU seeds run with the
//! kernel's fast paths on and off and every observable outcome must agree: every reply each
//! program consumed (error, badge, message info, data words: so messages, errors and their
//! order) and every program's state, priority and counters at every quiescent point. One CPU,
//! because the simulator's interleaving of several CPUs happens at lock operations, which the
//! fast paths do not have; a one-CPU run is the same run step for step whichever path runs.
//!
//! The direct IRQ post at kernel exit (`pending_irqs.rs`, no held-lock list) is switched with
//! them, so the seeds' interrupts compare it with the general one.
//!
//! Planted fast-path bugs (a word lost, a ready process of higher priority passed over, a line
//! posted again before its ACK by the direct IRQ post) must make some seed disagree.

use tessera_sim::{transcript, PlantedBug};

/// Seeds tried (about a quarter of them have one CPU).
const SEEDS: u64 = 1200;

/// The first one-CPU seed below `SEEDS` whose runs with and without the fast paths differ,
/// with the first differing line of each; and how many seeds were compared, and how many
/// system calls the fast paths ran over all of them.
fn first_difference(bug: Option<PlantedBug>) -> (Option<(u64, String, String)>, u64, u64) {
    let (mut compared, mut fast_total) = (0, 0);
    for seed in 0..SEEDS {
        let (cpus, fast, on) =
            transcript(seed, bug, true).unwrap_or_else(|e| (1, 0, vec![format!("failed: {e}")]));
        if cpus != 1 {
            continue;
        }
        let (_, _, off) =
            transcript(seed, bug, false).unwrap_or_else(|e| (1, 0, vec![format!("failed: {e}")]));
        compared += 1;
        fast_total += fast;
        if on != off {
            let at = on
                .iter()
                .zip(&off)
                .position(|(a, b)| a != b)
                .unwrap_or(on.len().min(off.len()));
            let line = |t: &Vec<String>| t.get(at).cloned().unwrap_or_else(|| "(end)".into());
            return (Some((seed, line(&on), line(&off))), compared, fast_total);
        }
    }
    (None, compared, fast_total)
}

#[test]
fn one_cpu_seeds_see_the_same_with_and_without_the_fast_paths() {
    let (diff, compared, fast) = first_difference(None);
    if let Some((seed, on, off)) = diff {
        panic!("seed {seed} differs with the fast paths on:\n  on:  {on}\n  off: {off}");
    }
    println!("{compared} one-CPU seeds compared; the fast paths ran {fast} system calls");
    assert!(compared >= 100, "only {compared} one-CPU seeds compared");
    assert!(
        fast >= 1000,
        "the fast paths ran only {fast} system calls over {compared} seeds"
    );
}

#[test]
fn a_fast_path_that_loses_a_word_is_caught() {
    let (diff, _, _) = first_difference(Some(PlantedBug::FastPathDropsWord));
    println!("FastPathDropsWord: {diff:?}");
    assert!(
        diff.is_some(),
        "no seed caught a fast path losing a data word"
    );
}

#[test]
fn a_fast_path_that_passes_over_a_ready_process_is_caught() {
    let (diff, _, _) = first_difference(Some(PlantedBug::FastPathIgnoresReady));
    println!("FastPathIgnoresReady: {diff:?}");
    assert!(
        diff.is_some(),
        "no seed caught a fast path running past a ready process"
    );
}

#[test]
fn a_direct_irq_post_that_ignores_the_ack_is_caught() {
    let (diff, _, _) = first_difference(Some(PlantedBug::DirectIrqIgnoresAck));
    println!("DirectIrqIgnoresAck: {diff:?}");
    assert!(
        diff.is_some(),
        "no seed caught the direct IRQ post posting a line that awaits its ACK"
    );
}
