#![cfg_attr(not(test), no_std)]

#[cfg(not(test))]
mod boot;

#[cfg(not(test))]
mod early {
    use core::fmt::Write;
    static mut STACK: [u8; 65536] = [0; 65536];
    #[no_mangle]
    static BOOT_STACK_TOP: &u8 = unsafe { &STACK[65535] };

    #[no_mangle]
    extern "C" fn kernel_main(start_info: u32) -> ! {
        let mut s = unsafe { uart_16550::SerialPort::new(0x3f8) };
        s.init();
        let _ = writeln!(s, "hello from tessera, start_info={start_info:#x}");
        unsafe { x86_64::instructions::port::Port::<u32>::new(0xf4).write(0x10) };
        loop {}
    }
    #[no_mangle]
    extern "C" fn rust_eh_personality() {}
    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
}
