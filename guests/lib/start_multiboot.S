/* Entry of a guest built as a Multiboot v1 kernel: the header (with a.out-kludge load
 * addresses, so any Multiboot loader, QEMU's -kernel included, can load the flat binary), then
 * 32-bit code that goes to long mode and on to the usual 64-bit start. */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00010002	/* a.out kludge, memory information wanted */

	.section .text.multiboot, "ax"
	.code32
	.balign 4
mb_header:
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)
	.long	mb_header		/* header_addr */
	.long	__image_start		/* load_addr */
	.long	__load_end		/* load_end_addr */
	.long	__bss_end		/* bss_end_addr */
	.long	mb_entry		/* entry_addr */

	.globl mb_entry
mb_entry:
	mov	%eax, multiboot_magic
	mov	%ebx, multiboot_info
	mov	$_start, %esi
	jmp	lm32_enter

	.section .data
	.globl multiboot_magic, multiboot_info
multiboot_magic:	.long 0
multiboot_info:		.long 0

	.section .note.GNU-stack, "", @progbits
