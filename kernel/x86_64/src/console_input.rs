//! The kernel monitor: a line editor on COM1 input for the time before user mode has a shell.
//! Commands: `help`, `cpus`, `ticks`, `shutdown`.

use crate::cpu::percpu;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;

/// Protects the line being typed. Leaf lock, taken only by `poll`, outside interrupt context.
static LINE: Mutex<([u8; 80], usize)> = Mutex::new(([0; 80], 0));

/// COM1 interrupted before the system runs: input waits in the UART for `poll`.
static INPUT: AtomicBool = AtomicBool::new(false);

/// Interrupt context: COM1 has input for the monitor.
pub fn input_arrived() {
    INPUT.store(true, Ordering::Release);
}

/// Out of interrupt context (the idle loop): feeds the input COM1 announced to the monitor.
pub fn poll() {
    if INPUT.swap(false, Ordering::AcqRel) {
        while let Some(b) = crate::console::read_byte() {
            byte(b);
        }
    }
}

pub fn byte(b: u8) {
    let mut guard = LINE.lock();
    let (buf, len) = &mut *guard;
    match b {
        b'\r' | b'\n' => {
            crate::kprintln!();
            let line = core::str::from_utf8(&buf[..*len]).unwrap_or("");
            command(line.trim());
            *len = 0;
            crate::kprint!("tessera> ");
        }
        0x7f | 0x08 if *len > 0 => {
            *len -= 1;
            crate::kprint!("\x08 \x08");
        }
        0x20..=0x7e if *len < buf.len() => {
            buf[*len] = b;
            *len += 1;
            crate::kprint!("{}", b as char);
        }
        _ => {}
    }
}

fn command(line: &str) {
    match line {
        "" => {}
        "help" => crate::kprintln!("commands: help, cpus, ticks, shutdown"),
        "cpus" => {
            for id in 0..percpu::cpu_count() {
                if let Some(c) = percpu::cpu(id) {
                    crate::kprintln!(
                        "cpu {id}: apic {} ticks {} irqs {}",
                        c.apic_id,
                        c.ticks.load(Ordering::Relaxed),
                        c.irqs_taken.load(Ordering::Relaxed)
                    );
                }
            }
        }
        "ticks" => crate::kprintln!("{}", percpu::percpu().ticks.load(Ordering::Relaxed)),
        "shutdown" => crate::qemu_exit::exit(crate::qemu_exit::ExitCode::Success),
        other => crate::kprintln!("unknown command: {other} (try help)"),
    }
}
