//! The user-level test suite: IPC across address spaces, POST ordering and exactly-once
//! delivery (also with the kernel's post pool exhausted), wake order with several waiters,
//! refusals of bad input with the right code, faulting or spinning helper processes, fault
//! keepers, alarms and sleeps, and CPU affinity. Run by `usertests` (test mode) and the shell's `test` command.
//!
//! Assumes: the running program holds `slots::SELF`, `slots::BANK`, `slots::ECHO` and
//! `slots::CONSOLE`, and nothing in the suite's slots (`tester`). Guarantees: one line per
//! test, then exactly `usertests: N passed, N failed`; every object made is destroyed again
//! (the last test checks the bank's quota came back).
#![no_std]

extern crate alloc;

mod affinity;
mod alarms;
mod faults;
pub mod helpers;
mod ipc;
mod keeper;
mod keeper_code;
mod kernel_limits;
mod memory;
mod post_pool;
mod posts;
mod refusals;
pub mod ring_sender;
pub mod runtime;
mod sleeper;
pub mod spawn;
mod task_locks;
pub mod tasks;
mod tester;
mod waiters;
mod wouldblock;

use helpers::Helper;
use tessera_user::{caps, clock, println, slots};
use tester::Outcome;

/// What the tests need to know about the tester.
pub struct Ctx {
    /// TSC ticks per second (for timeouts).
    pub tsc_hz: u64,
    /// The tester's priority, given to helpers that must run beside it.
    pub priority: u64,
}

/// The verdict of a run.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub passed: u32,
    pub failed: u32,
}

fn run_one(name: &str, outcome: Outcome, sum: &mut Summary) {
    match outcome {
        Ok(()) => {
            sum.passed += 1;
            println!("usertest {name}: ok");
        }
        Err(why) => {
            sum.failed += 1;
            println!("usertest {name}: FAILED: {why}");
        }
    }
}

/// Runs every test, printing one line each and the summary line last.
pub fn run(tsc_hz: u64) -> Summary {
    let mut sum = Summary {
        passed: 0,
        failed: 0,
    };
    let priority = caps::info(slots::SELF).map_or(10, |i| i.priority as u64);
    let ctx = Ctx { tsc_hz, priority };
    clock::set_tsc_hz(tsc_hz);
    let quota_before = caps::available(slots::BANK);
    run_one("setup: endpoint to self", tester::make_endpoint(), &mut sum);
    let tests: [(&str, &dyn Fn() -> Outcome); 55] = [
        ("call_return_round_trip", &ipc::call_return_round_trip),
        ("send_taken_once", &ipc::send_is_taken_once),
        ("post_to_waiting_receiver", &ipc::post_to_waiting_receiver),
        ("posts_queued_while_busy", &posts::queued_while_busy),
        ("posts_with_slow_receiver", &|| {
            posts::queued_with_slow_receiver(tsc_hz)
        }),
        ("posts_never_dropped_when_allotment_spent", &|| {
            post_pool::never_dropped_when_exhausted(&ctx)
        }),
        ("one_sender_cannot_drain_the_post_pool", &|| {
            post_pool::one_sender_cannot_drain_the_pool(&ctx)
        }),
        ("fifo_wake_order_several_callers", &|| {
            waiters::fifo_with_several_callers(&ctx)
        }),
        ("refuse_invalid_cap_index", &refusals::invalid_cap_index),
        ("refuse_null_capability", &refusals::null_capability),
        ("refuse_wrong_type", &refusals::wrong_type),
        ("refuse_missing_rights", &refusals::missing_rights),
        ("refuse_unknown_order", &refusals::unknown_order),
        ("refuse_out_of_range_words", &refusals::out_of_range_words),
        ("refuse_above_priority_ceiling", &|| {
            refusals::above_priority_ceiling(&ctx)
        }),
        ("refuse_malformed_message", &refusals::malformed_message),
        ("refuse_destroyed_object", &refusals::destroyed_object),
        ("dead_resume_capability", &refusals::dead_resume_capability),
        ("halt_on_kernel_read", &|| {
            faults::halted_for(&ctx, Helper::ReadKernel)
        }),
        ("halt_on_kernel_jump", &|| {
            faults::halted_for(&ctx, Helper::JumpKernel)
        }),
        ("halt_on_privileged_instruction", &|| {
            faults::halted_for(&ctx, Helper::Privileged)
        }),
        ("halt_on_port_io_without_a_grant", &|| {
            faults::halted_for(&ctx, Helper::PortIo)
        }),
        ("spinner_does_not_starve", &|| {
            faults::spinner_does_not_starve(&ctx)
        }),
        ("destroyed_page_unreachable", &|| {
            memory::destroyed_page_is_unreachable(&ctx)
        }),
        ("keeper_fixes_a_page_fault", &|| {
            keeper::page_fault_is_fixed_by_the_keeper(&ctx)
        }),
        ("keeper_skips_traps_by_writing_rip", &|| {
            keeper::traps_are_skipped_by_the_keeper(&ctx)
        }),
        ("no_keeper_resume_reruns_the_fault", &|| {
            keeper::without_a_keeper_resume_reruns_the_fault(&ctx)
        }),
        ("keeper_that_faults_leaves_the_faulter_waiting", &|| {
            keeper::a_silent_keeper_leaves_the_faulter_waiting(&ctx)
        }),
        ("set_entry_starts_fresh", &|| {
            keeper::set_entry_starts_fresh(&ctx)
        }),
        ("written_registers_survive_a_syscall_exit", &|| {
            keeper::written_registers_reach_user_mode_after_a_syscall(&ctx)
        }),
        ("refuse_bad_register_orders", &|| {
            keeper::register_orders_refuse_bad_input(&ctx)
        }),
        ("sleeps_end_on_time", &alarms::sleeps_end_on_time),
        (
            "nap_keeps_messages_queued",
            &sleeper::nap_keeps_messages_queued,
        ),
        (
            "periodic_alarm_fires_each_period",
            &alarms::periodic_alarm_fires_each_period,
        ),
        (
            "refuse_bad_alarm_arguments",
            &alarms::alarm_refuses_bad_input,
        ),
        ("pinned_runs_only_on_cpu_2", &|| {
            affinity::pinned_runs_only_there(&ctx)
        }),
        ("refuse_cpu_not_online", &affinity::refuses_a_cpu_not_online),
        ("runtime_chores_on_one_vp", &runtime::chores_on_one_vp),
        (
            "wouldblock_call_notified_once",
            &wouldblock::call_to_busy_server_is_notified_once,
        ),
        (
            "wouldblock_post_notified_once",
            &wouldblock::post_with_allotment_spent_is_notified_once,
        ),
        (
            "call_with_timeout",
            &wouldblock::call_with_timeout_ends_at_its_deadline,
        ),
        ("tasks_chores_on_pinned_vps_stolen", &|| {
            tasks::chores_run_on_pinned_vps_and_are_stolen(&ctx)
        }),
        ("tasks_chores_sleep_on_alarms", &|| {
            tasks::chores_sleep_on_alarms(&ctx)
        }),
        ("tasks_stack_grows_overflow_ends_chore", &|| {
            tasks::stack_grows_then_overflow_ends_the_chore(&ctx)
        }),
        ("tasks_tertiary_trap_table", &|| {
            tasks::tertiary_trap_table_per_chore(&ctx)
        }),
        ("tasks_demo_on_every_cpu", &|| {
            tasks::demo_on_every_cpu(&ctx)
        }),
        ("tasks_channel_between_tasks", &|| {
            tasks::channel_between_tasks(&ctx)
        }),
        ("tasks_nonblocking_call_suspends_the_chore", &|| {
            tasks::nonblocking_call_suspends_the_chore_not_the_vp(&ctx)
        }),
        (
            "mappings_up_to_the_limit",
            &kernel_limits::mappings_up_to_the_limit,
        ),
        (
            "cap_pages_by_the_hundred",
            &kernel_limits::cap_pages_by_the_hundred,
        ),
        ("tasks_a_busy_vp_still_takes_its_notifications", &|| {
            tasks::a_busy_vp_still_takes_its_notifications(&ctx)
        }),
        ("tasks_locks_cells_and_channels_across_vps", &|| {
            task_locks::locks_cells_and_channels_across_vps(&ctx)
        }),
        ("tasks_stack_refill_refused_when_the_bank_is_dry", &|| {
            tasks::stack_refill_refused_when_the_bank_is_dry(&ctx)
        }),
        ("tasks_thousands_of_chores_alive", &|| {
            tasks::thousands_of_chores_alive(&ctx)
        }),
        ("tasks_name_server_across_tasks", &|| {
            tasks::name_server_across_tasks(&ctx)
        }),
    ];
    for (name, test) in tests {
        run_one(name, test(), &mut sum);
    }
    let quota_after = caps::available(slots::BANK);
    run_one(
        "bank_quota_returned",
        tester::ensure(quota_before.is_ok() && quota_before == quota_after, || {
            alloc::format!("bank (free, objects) {quota_before:?} before, {quota_after:?} after")
        }),
        &mut sum,
    );
    println!("usertests: {} passed, {} failed", sum.passed, sum.failed);
    sum
}
