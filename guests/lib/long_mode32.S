/* lm32_enter: from 32-bit protected mode (paging off) into 64-bit long mode, with an identity
 * map of the first 4 GiB in 2 MiB pages, then a jump to the 64-bit address in %esi.
 * Used by guests that do not start in long mode (Multiboot and real-mode entries). */
	.text
	.code32
	.globl lm32_enter
lm32_enter:
	/* PML4[0] -> PDPT, PDPT[0..3] -> four page directories */
	mov	$lm_pml4, %edi
	mov	$lm_pdpt + 3, %eax
	mov	%eax, (%edi)
	mov	$lm_pdpt, %edi
	mov	$lm_pd + 3, %eax
	mov	$4, %ecx
1:	mov	%eax, (%edi)
	add	$8, %edi
	add	$4096, %eax
	loop	1b
	/* 2048 PD entries, 2 MiB each: present, writable, large */
	mov	$lm_pd, %edi
	mov	$0x83, %eax
	xor	%edx, %edx
	mov	$2048, %ecx
2:	mov	%eax, (%edi)
	mov	%edx, 4(%edi)
	add	$8, %edi
	add	$0x200000, %eax
	adc	$0, %edx
	loop	2b

	mov	%cr4, %eax
	or	$0x20, %eax		/* PAE */
	mov	%eax, %cr4
	mov	$lm_pml4, %eax
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx	/* EFER.LME */
	rdmsr
	or	$0x100, %eax
	wrmsr
	mov	%cr0, %eax
	or	$0x80000001, %eax	/* PG and PE */
	mov	%eax, %cr0
	lgdt	lm_gdt_ptr
	ljmp	$0x08, $lm64

	.code64
lm64:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%ax, %fs
	mov	%ax, %gs
	mov	%esi, %esi		/* zero-extend the target */
	jmp	*%rsi

	.section .rodata
	.balign 8
lm_gdt:
	.quad	0
	.quad	0x00af9b000000ffff	/* 0x08: 64-bit code */
	.quad	0x00cf93000000ffff	/* 0x10: data */
lm_gdt_ptr:
	.word	lm_gdt_ptr - lm_gdt - 1
	.quad	lm_gdt

	.section .bss
	.balign 4096
lm_pml4:	.space 4096
lm_pdpt:	.space 4096
lm_pd:		.space 4 * 4096

	.section .note.GNU-stack, "", @progbits
