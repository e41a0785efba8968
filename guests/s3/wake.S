/* The real-mode code a waking machine enters: s3.c copies it to WAKE_ADDR + 8 and puts that
 * address in the FACS, so firmware (here hopvm) starts it at CS = WAKE_ADDR >> 4, IP = 8.
 * At WAKE_ADDR the 64-bit side left a marker (to show RAM was kept) and the wake it expects;
 * this code checks CS, IP, CR0.PE, the marker and PM1_STS, prints what it found on COM1 and
 * ends the VM through the debug-exit port: status 0 if all held, else 1. */
#define COM1 0x3f8
#define PM1_STS 0x600
#define DEBUG_EXIT 0xf4
#define MARKER 0x33533353
#define WAK_STS 0x8000
#define RTC_STS 0x0400
#define PWRBTN_STS 0x0100
#define IP_AT(label) (8 + (label) - wake_start)

	.section .rodata
	.globl wake_start, wake_end
	.code16
wake_start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	mov	%ax, %ss
	mov	$0xfff0, %sp
	xor	%si, %si		/* checks failed */
	mov	$IP_AT(m_cs), %bx
	call	puts
	mov	%cs, %ax
	call	puthex
	mov	%cs, %ax
	cmp	$0x3000, %ax
	je	1f
	inc	%si
1:	mov	$IP_AT(m_ip), %bx
	call	puts
	call	2f
2:	pop	%ax			/* where 2 is, less its offset: where this code began */
	sub	$(2b - wake_start), %ax
	push	%ax
	call	puthex
	pop	%ax
	cmp	$8, %ax
	je	3f
	inc	%si
3:	mov	$IP_AT(m_pe), %bx
	call	puts
	smsw	%ax
	and	$1, %ax
	push	%ax
	add	$'0', %al
	call	putc
	pop	%ax
	test	%ax, %ax
	jz	4f
	inc	%si
4:	mov	$IP_AT(m_sts), %bx
	call	puts
	mov	$PM1_STS, %dx
	in	%dx, %ax
	mov	%ax, %di
	call	puthex
	/* WAK_STS, and the wake's own bit: RTC_STS if the alarm was wanted, else PWRBTN_STS. */
	mov	$(WAK_STS | PWRBTN_STS), %cx
	cmpb	$0, 4
	je	5f
	mov	$(WAK_STS | RTC_STS), %cx
5:	mov	%di, %ax
	and	%cx, %ax
	cmp	%cx, %ax
	je	6f
	inc	%si
6:	mov	$IP_AT(m_kept), %bx
	cmpl	$MARKER, 0
	je	7f
	inc	%si
	mov	$IP_AT(m_lost), %bx
7:	call	puts
	mov	$IP_AT(m_pass), %bx
	xor	%al, %al
	test	%si, %si
	jz	8f
	mov	$IP_AT(m_fail), %bx
	mov	$1, %al
8:	push	%ax
	call	puts
	pop	%ax
	out	%al, $DEBUG_EXIT
9:	hlt
	jmp	9b

/* The NUL-terminated string at DS:BX. */
puts:
	mov	(%bx), %al
	test	%al, %al
	jz	2f
	call	putc
	inc	%bx
	jmp	puts
2:	ret

/* AX as four hex digits. */
puthex:
	mov	%ax, %bp
	mov	$4, %cx
1:	rol	$4, %bp
	mov	%bp, %ax
	and	$0xf, %al
	add	$'0', %al
	cmp	$'9', %al
	jbe	2f
	add	$('a' - '9' - 1), %al
2:	call	putc
	loop	1b
	ret

putc:
	push	%ax
	mov	$(COM1 + 5), %dx
1:	in	%dx, %al
	test	$0x20, %al
	jz	1b
	pop	%ax
	mov	$COM1, %dx
	out	%al, %dx
	ret

m_cs:	.asciz	"s3: woke in real mode: CS 0x"
m_ip:	.asciz	" IP 0x"
m_pe:	.asciz	" CR0.PE "
m_sts:	.asciz	" PM1_STS 0x"
m_kept:	.asciz	", RAM kept\r\n"
m_lost:	.asciz	", RAM LOST\r\n"
m_pass:	.asciz	"s3: PASS\r\n"
m_fail:	.asciz	"s3: FAIL: the wake is not what the FACS and PM1 promise\r\n"
wake_end:
	.code64

	.section .note.GNU-stack, "", @progbits
