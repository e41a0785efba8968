/* Into CPL 3 by SYSRET, for good (user_mode.h). */
#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define SEL_KERNEL_CODE 0x10
#define SEL_SYSRET_BASE 0x18	/* SYSRET: SS = 0x20 | 3, CS = 0x28 | 3 */
#define RFLAGS_FIXED 0x2

	.text
	.code64
	.globl user_enter
user_enter:
	push	%rdi
	push	%rsi
	lgdt	user_gdt_ptr(%rip)
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$1, %eax		/* SCE: SYSRET allowed */
	wrmsr
	mov	$MSR_STAR, %ecx
	xor	%eax, %eax
	mov	$(SEL_SYSRET_BASE << 16) | SEL_KERNEL_CODE, %edx
	wrmsr
	/* U in every present entry of the tables CR3 names, down to the 2 MiB pages. */
	mov	%cr3, %rdi
	and	$~0xfff, %rdi
	mov	$3, %esi		/* levels: PML4, PDPT, PD */
	call	user_allow_table
	mov	%cr3, %rax
	mov	%rax, %cr3		/* drop the TLB entries cached without U */
	pop	%rdi			/* fn's argument */
	pop	%rcx			/* SYSRET goes to RCX with RFLAGS from R11 */
	and	$~0xf, %rsp
	push	$0			/* fn's "return address": it must not return */
	mov	$RFLAGS_FIXED, %r11d	/* interrupts off */
	sysretq

/* user_allow_table(table in %rdi, levels in %esi): sets U (bit 2) in each present entry and
 * walks down from the entries that are not large pages. */
user_allow_table:
	push	%rbx
	push	%r12
	push	%r13
	mov	%rdi, %rbx
	mov	%esi, %r12d
	xor	%r13d, %r13d
1:	mov	(%rbx, %r13, 8), %rax
	test	$1, %al
	jz	2f
	or	$4, %rax
	mov	%rax, (%rbx, %r13, 8)
	cmp	$1, %r12d
	je	2f
	test	$0x80, %al		/* a large page: nothing below */
	jnz	2f
	movabs	$0x000ffffffffff000, %rdi
	and	%rax, %rdi
	lea	-1(%r12), %esi
	call	user_allow_table
2:	inc	%r13
	cmp	$512, %r13
	jb	1b
	pop	%r13
	pop	%r12
	pop	%rbx
	ret

	.section .rodata
	.balign 8
user_gdt:
	.quad	0
	.quad	0x00af9b000000ffff	/* 0x08: 64-bit code, the APs' (lm32_enter) */
	.quad	0x00af9b000000ffff	/* 0x10: 64-bit code, the boot CPU's (hopvm) */
	.quad	0x00cf93000000ffff	/* 0x18: data */
	.quad	0x00cff3000000ffff	/* 0x20: user data, DPL 3 */
	.quad	0x00affb000000ffff	/* 0x28: user 64-bit code, DPL 3 */
user_gdt_ptr:
	.word	user_gdt_ptr - user_gdt - 1
	.quad	user_gdt

	.section .note.GNU-stack, "", @progbits
