/* The modes guest starts here, at 0x8000 in 16-bit real mode (hopvm run --format raw
 * --load-addr 0x8000), and takes the CPU through protected mode to long mode itself,
 * saying so at each step. */
#define COM1 0x3f8

	.section .text.real, "ax"
	.code16
	.globl real_start
real_start:
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	mov	%ax, %ss
	mov	$0x7000, %sp
	mov	$msg_real, %si
	call	puts16
	lgdtl	pm_gdt_ptr
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$0x08, $pm_start

puts16:
	mov	$COM1, %dx
1:	lodsb
	test	%al, %al
	jz	2f
	out	%al, %dx
	jmp	1b
2:	ret

	.code32
pm_start:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$0x7000, %esp
	mov	$msg_protected, %esi
	mov	$COM1, %dx
1:	lodsb
	test	%al, %al
	jz	2f
	out	%al, %dx
	jmp	1b
2:	mov	$_start, %esi
	jmp	lm32_enter

	.balign 8
pm_gdt:
	.quad	0
	.quad	0x00cf9b000000ffff	/* 0x08: 32-bit code */
	.quad	0x00cf93000000ffff	/* 0x10: data */
pm_gdt_ptr:
	.word	pm_gdt_ptr - pm_gdt - 1
	.long	pm_gdt

msg_real:	.asciz "modes: 16-bit real mode\r\n"
msg_protected:	.asciz "modes: 32-bit protected mode\r\n"

	.section .note.GNU-stack, "", @progbits
