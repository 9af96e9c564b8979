//! The PVH entry: from 32-bit protected mode to 64-bit Rust in the higher half.
//!
//! QEMU's PVH loader enters `pvh_start32` with paging off, flat 32-bit segments and the physical
//! address of `hvm_start_info` in %ebx; there is no stack. The stub switches on PAE, long mode,
//! NX, write protection and SSE with static boot page tables (the first GiB identity-mapped and
//! mapped again at -2 GiB), then jumps to `boot_long_mode` in the higher half, which loads the
//! boot CPU's stack and calls `kernel_main(start_info_paddr)`. The kernel replaces these tables
//! with its own (`mem::kernel_map`) as soon as it has a frame allocator.

core::arch::global_asm!(
    r#"
    .section .note.Xen, "a"
    .balign 4
    .long 4            /* name size: "Xen\0" */
    .long 4            /* descriptor size */
    .long 18           /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .long pvh_start32
    .balign 4

    .section .boot.text, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld
    movl %ebx, %esi                       /* start_info: kept for kernel_main's first argument */

    movl %cr4, %eax
    orl $((1 << 5) | (1 << 9) | (1 << 10)), %eax   /* PAE, OSFXSR, OSXMMEXCPT */
    movl %eax, %cr4

    movl $boot_pml4, %eax
    movl %eax, %cr3

    movl $0xC0000080, %ecx                /* EFER */
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax     /* LME, NXE */
    wrmsr

    movl %cr0, %eax
    andl $~(1 << 2), %eax                 /* EM off: SSE is used by compiled code */
    orl $((1 << 31) | (1 << 16) | (1 << 1) | 1), %eax   /* PG, WP, MP, PE */
    movl %eax, %cr0

    lgdt boot_gdtr
    ljmp $0x08, $boot_long_mode_low

    .code64
boot_long_mode_low:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movabsq $boot_long_mode, %rax
    jmpq *%rax

    .section .boot.data, "aw"
    .balign 4096
boot_pml4:
    .quad boot_pdpt + 0x3
    .fill 510, 8, 0
    .quad boot_pdpt_high + 0x3
boot_pdpt:
    .quad boot_pd + 0x3
    .fill 511, 8, 0
boot_pdpt_high:
    .fill 510, 8, 0
    .quad boot_pd + 0x3
    .quad 0
boot_pd:
    .set i, 0
    .rept 512
    .quad (i << 21) | 0x83                /* present, writable, 2 MiB page */
    .set i, i + 1
    .endr

    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff              /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff              /* 0x10: data */
boot_gdtr:
    .word boot_gdtr - boot_gdt - 1
    .long boot_gdt

    .text
    .global boot_long_mode
boot_long_mode:
    movabsq $BOOT_STACK_TOP, %rsp
    movq (%rsp), %rsp
    xorl %ebp, %ebp
    movl %esi, %edi
    call kernel_main
    ud2
"#,
    options(att_syntax)
);
