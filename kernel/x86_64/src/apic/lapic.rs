//! The local APIC (xAPIC, memory-mapped; QEMU 7.2's TCG has no x2APIC), its timer and IPIs.
//!
//! Invariant: each CPU touches only its own local APIC (the registers are per-CPU at the same
//! address), so no lock is needed. The timer is calibrated once, on the boot CPU, against the
//! PIT; all CPUs share the bus clock, so the count applies to every CPU.

use crate::apic::pit;
use crate::trap::vectors::{SPURIOUS, TIMER};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use x86_64::registers::model_specific::Msr;

const IA32_APIC_BASE: u32 = 0x1b;
const ID: u64 = 0x20;
const TPR: u64 = 0x80;
const EOI: u64 = 0xb0;
const SVR: u64 = 0xf0;
const ESR: u64 = 0x280;
const ICR_LOW: u64 = 0x300;
const ICR_HIGH: u64 = 0x310;
const LVT_TIMER: u64 = 0x320;
const LVT_LINT0: u64 = 0x350;
const LVT_LINT1: u64 = 0x360;
const LVT_ERROR: u64 = 0x370;
const TIMER_INITIAL: u64 = 0x380;
const TIMER_CURRENT: u64 = 0x390;
const TIMER_DIVIDE: u64 = 0x3e0;
const MASKED: u32 = 1 << 16;
const PERIODIC: u32 = 1 << 17;
const TSC_DEADLINE: u32 = 2 << 17;
const IA32_TSC_DEADLINE: u32 = 0x6e0;

pub const TICK_HZ: u64 = 100;

static BASE: AtomicU64 = AtomicU64::new(0);
static TICKS_PER_PERIOD: AtomicU32 = AtomicU32::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);

fn reg(off: u64) -> *mut u32 {
    (BASE.load(Ordering::Relaxed) + off) as *mut u32
}

fn read(off: u64) -> u32 {
    // SAFETY: BASE is the direct-map address of this CPU's APIC page, mapped uncached.
    unsafe { reg(off).read_volatile() }
}

fn write(off: u64, v: u32) {
    // SAFETY: as in `read`; APIC registers are 32-bit and written whole.
    unsafe { reg(off).write_volatile(v) }
}

/// Maps the APIC page (once) and enables this CPU's APIC with everything masked but errors.
pub fn init() {
    if BASE.load(Ordering::Relaxed) == 0 {
        // SAFETY: reading the APIC base MSR has no side effect.
        let pa = unsafe { Msr::new(IA32_APIC_BASE).read() } & 0xf_ffff_f000;
        BASE.store(crate::mem::kmem::map_mmio(pa), Ordering::Relaxed);
    }
    write(TPR, 0);
    write(LVT_LINT0, MASKED);
    write(LVT_LINT1, MASKED);
    write(LVT_ERROR, MASKED);
    write(ESR, 0);
    write(SVR, 0x100 | SPURIOUS as u32);
}

pub fn id() -> u32 {
    read(ID) >> 24
}

pub fn eoi() {
    write(EOI, 0);
}

/// Measures the APIC timer against 2 ms of PIT time (boot CPU, once): long enough for 0.1 %
/// precision, short because under `-icount` the wait is millions of guest instructions.
pub fn calibrate() {
    write(TIMER_DIVIDE, 0x3); // divide by 16
    let mut tsc0 = 0;
    let (elapsed, tsc) = pit::measure(
        2,
        || {
            write(LVT_TIMER, MASKED);
            write(TIMER_INITIAL, u32::MAX);
            tsc0 = crate::tsc();
        },
        || (u32::MAX - read(TIMER_CURRENT), crate::tsc()),
    );
    TSC_HZ.store((tsc - tsc0) * 500, Ordering::Relaxed);
    write(TIMER_INITIAL, 0);
    let per_period = (elapsed as u64 * 500 / TICK_HZ).max(1000) as u32;
    TICKS_PER_PERIOD.store(per_period, Ordering::Relaxed);
    log::info!(
        "APIC timer: {} counts per {} ms tick",
        per_period,
        1000 / TICK_HZ
    );
}

/// TSC ticks per second, as calibrated against the PIT.
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// The kernel's clock (`tessera_abi::clock`): the TSC, in nanoseconds.
pub fn now_ns() -> u64 {
    tessera_abi::clock::tsc_to_ns(crate::tsc(), tsc_hz())
}

/// How the idle loop's timer was left by `wake_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The deadline has passed already: do not halt.
    Now,
    /// The periodic tick comes first: the timer is as it was.
    Tick,
    /// The timer fires once, at the deadline: `start_timer` must restore the tick after.
    Programmed,
}

/// Programs this CPU's timer to interrupt at `deadline_ns` (the kernel's clock) if that is
/// before its next periodic tick: in TSC-deadline mode when the CPU has it, else one-shot
/// (counts from the PIT calibration, rounded up; an interrupt a little early finds the alarm
/// not yet due and the idle loop comes back here for the rest).
pub fn wake_at(deadline_ns: u64) -> Wake {
    let now = now_ns();
    if deadline_ns <= now {
        return Wake::Now;
    }
    let left = deadline_ns - now;
    let period_ns = tessera_abi::clock::NS_PER_SEC / TICK_HZ;
    if left >= period_ns {
        return Wake::Tick;
    }
    if has_tsc_deadline() {
        write(LVT_TIMER, TSC_DEADLINE | TIMER as u32);
        let at = tessera_abi::clock::ns_to_tsc(deadline_ns, tsc_hz());
        // SAFETY: the CPU has the TSC-deadline MSR (CPUID checked), and its timer is in that mode.
        unsafe { Msr::new(IA32_TSC_DEADLINE).write(at) };
    } else {
        let per_period = u64::from(TICKS_PER_PERIOD.load(Ordering::Relaxed));
        let counts = (left * per_period)
            .div_ceil(period_ns)
            .clamp(1, u64::from(u32::MAX));
        write(LVT_TIMER, TIMER as u32);
        write(TIMER_INITIAL, counts as u32);
    }
    Wake::Programmed
}

/// Whether the CPU's local APIC timer has the TSC-deadline mode (CPUID.1:ECX[24]).
fn has_tsc_deadline() -> bool {
    raw_cpuid::CpuId::new()
        .get_feature_info()
        .is_some_and(|f| f.has_tsc_deadline())
}

pub fn start_timer() {
    write(TIMER_DIVIDE, 0x3);
    write(LVT_TIMER, PERIODIC | TIMER as u32);
    write(TIMER_INITIAL, TICKS_PER_PERIOD.load(Ordering::Relaxed));
}

fn send(apic_id: u32, low: u32) {
    write(ICR_HIGH, apic_id << 24);
    write(ICR_LOW, low);
    while read(ICR_LOW) & (1 << 12) != 0 {
        core::hint::spin_loop();
    }
}

pub fn send_ipi(apic_id: u32, vector: u8) {
    send(apic_id, vector as u32);
}

pub fn send_init(apic_id: u32) {
    send(apic_id, 0x4500);
}

pub fn send_startup(apic_id: u32, page: u8) {
    send(apic_id, 0x4600 | page as u32);
}

/// The timer's current count (tests watch it wrap to see periods pass with interrupts off).
pub fn timer_count() -> u32 {
    read(TIMER_CURRENT)
}
