/* 256 interrupt entry stubs, 16 bytes apart, so vector v enters at isr_stubs + 16 * v.
 * Each pushes a zero where the CPU pushes no error code, then the vector, and all stubs share
 * one path that saves the caller-saved registers and calls interrupt_dispatch(frame). */
	.text
	.code64
	.balign 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if !((vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30))
	pushq	$0
	.endif
	pushq	$vec
	jmp	isr_common
	.set vec, vec + 1
	.endr

isr_common:
	push	%rax
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	mov	%rsp, %rdi
	cld
	call	interrupt_dispatch
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rax
	add	$16, %rsp	/* vector and error code */
	iretq

	.section .note.GNU-stack, "", @progbits
