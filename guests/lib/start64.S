/* Entry of an ELF64 guest: hopvm enters here in 64-bit long mode with paging on,
 * interrupts off and no stack. */
	.section .text.start, "ax"
	.globl _start
_start:
	lea	stack_top(%rip), %rsp
	xor	%ebp, %ebp
	call	guest_main
	mov	%eax, %edi
	call	guest_exit

	.section .bss
	.balign 16
	.space	16384
stack_top:

	.section .note.GNU-stack, "", @progbits
