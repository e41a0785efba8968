/* The AP trampoline: an AP woken by a SIPI starts in real mode at vector * 4 KiB.  This code
 * is copied to AP_TRAMPOLINE (0x8000) and takes the AP to protected mode; lm32_enter takes it
 * on to long mode and ap_entry64, with the stack and entry function the BSP left in
 * ap_boot_stack and ap_boot_entry. */
#define AP_TRAMPOLINE 0x8000
#define TRAMP(label) (AP_TRAMPOLINE + (label - ap_trampoline_start))

	.section .rodata
	.globl ap_trampoline_start, ap_trampoline_end
	.code16
ap_trampoline_start:
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	lgdtl	TRAMP(tramp_gdt_ptr)
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$0x08, $TRAMP(tramp_pm32)

	.code32
tramp_pm32:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	/* On to long mode with the guests' shared routine, in the image, not the copy. */
	mov	$ap_entry64, %esi
	mov	$lm32_enter, %eax
	jmp	*%eax

	.balign 8
tramp_gdt:
	.quad	0
	.quad	0x00cf9b000000ffff	/* 0x08: 32-bit code */
	.quad	0x00cf93000000ffff	/* 0x10: data */
tramp_gdt_ptr:
	.word	tramp_gdt_ptr - tramp_gdt - 1
	.long	TRAMP(tramp_gdt)
ap_trampoline_end:

	.text
	.code64
ap_entry64:
	mov	$0x10, %ax
	mov	%ax, %ss
	mov	ap_boot_stack(%rip), %rsp
	xor	%ebp, %ebp
	mov	ap_boot_entry(%rip), %rax
	mov	ap_boot_apic_id(%rip), %edi
	movl	$1, ap_boot_taken(%rip)	/* the BSP may now prepare the next AP */
	call	*%rax
1:	cli
	hlt
	jmp	1b

	.section .note.GNU-stack, "", @progbits
