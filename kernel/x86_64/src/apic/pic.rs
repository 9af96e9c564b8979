//! The legacy 8259 PICs: remapped away from the exception vectors, then masked for good.
//! The IOAPIC delivers every device interrupt instead.

use crate::trap::vectors::PIC_BASE;
use x86_64::instructions::port::Port;

pub fn disable() {
    let mut cmd1 = Port::<u8>::new(0x20);
    let mut data1 = Port::<u8>::new(0x21);
    let mut cmd2 = Port::<u8>::new(0xa0);
    let mut data2 = Port::<u8>::new(0xa1);
    // SAFETY: the standard ICW1-4 initialisation of both PICs, then full masks; nothing else
    // drives these ports.
    unsafe {
        cmd1.write(0x11);
        cmd2.write(0x11);
        data1.write(PIC_BASE);
        data2.write(PIC_BASE + 8);
        data1.write(4);
        data2.write(2);
        data1.write(1);
        data2.write(1);
        data1.write(0xff);
        data2.write(0xff);
    }
}
