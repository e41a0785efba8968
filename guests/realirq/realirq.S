/* kvm-unit-tests' realmode.c "sti inhibit" case as that test runs it: a raw real-mode image
 * (hopvm run --format raw --load-addr 0x8000 --test-devices) that never programs the PICs,
 * points vector 0x73 (IRQ 11 behind a BIOS's slave PIC base 0x70) at its handler, pulses
 * IRQ 11 with interrupts off by a 4-byte OUT of 1 then 0 to port 0x200b, and does "sti; hlt".
 *
 * Under QEMU, SeaBIOS has programmed the PICs (bases 0x08 and 0x70), so the interrupt comes
 * at vector 0x73.  Every vector here goes to a stub that logs it, so an interrupt at another
 * vector (a PIC left unprogrammed delivers IRQ 11 at vector 3) is seen and reported, not run
 * into as code.  A one-shot PIT count (IRQ 0, about 55 ms) is the watchdog: the hlt ends
 * even if IRQ 11 never comes.  Exit status 0 when IRQ 11 came first and at 0x73, else 1. */
#define COM1 0x3f8
#define EXIT_PORT 0xf4
#define IRQ11_PORT 0x200b
#define BIOS_IRQ11_VECTOR 0x73
#define LOG_MAX 8

	.section .text.real, "ax"
	.code16
	.globl real_start
real_start:
	cli
	ljmp	$0, $1f			/* CS 0: the IVT below names offsets from 0 */
1:	xor	%ax, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$0x7000, %sp

	/* Every vector to its logging stub. */
	xor	%di, %di
	mov	$stubs, %ax
	mov	$256, %cx
2:	mov	%ax, (%di)
	movw	$0, 2(%di)
	add	$4, %di
	add	$8, %ax
	loop	2b

	mov	$msg_masks, %si
	call	puts
	in	$0x21, %al
	call	puthex
	mov	$' ', %al
	call	putc
	in	$0xa1, %al
	call	puthex
	call	newline

	/* The watchdog: PIT channel 0, mode 0 (one interrupt at terminal count), 0xffff. */
	mov	$0x30, %al
	out	%al, $0x43
	mov	$0xff, %al
	out	%al, $0x40
	out	%al, $0x40

	/* realmode.c's sequence, to the instruction. */
	pushf
	cli
	mov	$IRQ11_PORT, %dx
	mov	$1, %eax
	out	%eax, %dx
	mov	$0, %eax
	out	%eax, %dx
	sti
	hlt
	popf
	cli
	mov	nr_logged, %ax
	mov	%ax, nr_at_hlt

	/* Then wait for the watchdog too, so the log shows what else came. */
	mov	$200, %cx
3:	cmpb	$0, watchdog_seen
	jne	4f
	sti
	hlt
	cli
	loop	3b
4:
	mov	$msg_log, %si
	call	puts
	xor	%bx, %bx
5:	cmp	nr_logged, %bx
	jae	6f
	cmp	$LOG_MAX, %bx
	jae	6f
	mov	$' ', %al
	call	putc
	mov	logged(%bx), %al
	call	puthex
	inc	%bx
	jmp	5b
6:	call	newline

	/* The check: one interrupt by the end of "sti; hlt", and it was vector 0x73. */
	mov	$msg_check, %si
	call	puts
	cmpw	$1, nr_at_hlt
	jne	fail
	cmpb	$BIOS_IRQ11_VECTOR, logged
	jne	fail
	mov	$msg_ok, %si
	call	puts
	mov	$0, %al
	out	%al, $EXIT_PORT
	hlt
fail:
	mov	$msg_fail, %si
	call	puts
	mov	$1, %al
	out	%al, $EXIT_PORT
	hlt

/* The interrupt log: each stub pushes its vector. */
log_interrupt:
	push	%bp
	mov	%sp, %bp
	push	%ax
	push	%bx
	mov	2(%bp), %ax		/* the vector */
	cmp	$0x08, %al		/* IRQ 0 behind a BIOS's master base */
	je	1f
	cmp	$0x00, %al		/* or behind a PIC left at base 0 */
	jne	2f
1:	movb	$1, watchdog_seen
2:	mov	nr_logged, %bx
	cmp	$LOG_MAX, %bx
	jae	3f
	mov	%al, logged(%bx)
3:	incw	nr_logged
	pop	%bx
	pop	%ax
	pop	%bp
	add	$2, %sp
	iret			/* no EOI, as realmode.c's handler (a bare IRET) */

putc:
	push	%dx
	mov	$COM1, %dx
	out	%al, %dx
	pop	%dx
	ret

puts:
	lodsb
	test	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

newline:
	mov	$'\n', %al
	jmp	putc

/* AL as "0x" and two hex digits. */
puthex:
	push	%ax
	push	%ax
	mov	$'0', %al
	call	putc
	mov	$'x', %al
	call	putc
	pop	%ax
	shr	$4, %al
	call	1f
	pop	%ax
	and	$0xf, %al
1:	and	$0xf, %al
	add	$'0', %al
	cmp	$'9', %al
	jbe	2f
	add	$('a' - '9' - 1), %al
2:	jmp	putc

	.balign 8
stubs:
	.set	vec, 0
	.rept	256
	.balign 8
	push	$vec
	jmp	log_interrupt
	.set	vec, vec + 1
	.endr

msg_masks:	.asciz "realirq: PIC masks at entry "
msg_log:	.asciz "realirq: interrupts taken (vectors):"
msg_check:	.asciz "realirq: IRQ 11 pulsed by a 4-byte OUT with interrupts off arrives at sti; hlt, at vector 0x73: "
msg_ok:		.asciz "ok\nrealirq: PASS\n"
msg_fail:	.asciz "FAIL\n"

	.balign 2
nr_logged:	.word 0
nr_at_hlt:	.word 0
watchdog_seen:	.byte 0
logged:		.fill LOG_MAX, 1, 0
