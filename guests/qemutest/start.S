/* Entry of the QEMU-style test kernel.  Unlike guests/lib/start_multiboot.S, the header has no
 * load addresses: the loader reads the ELF32 program headers, as kvm-unit-tests' images are
 * loaded (qemutest-low.ld puts this first segment in low memory). */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003	/* modules page-aligned, memory information wanted */

	.section .text.multiboot, "ax"
	.code32
	.balign 4
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)

	.globl mb_entry
mb_entry:
	mov	%eax, multiboot_magic
	mov	%ebx, multiboot_info
	mov	$_start, %esi
	jmp	lm32_enter

	/* What the kernel checks to know its entry segment was loaded whole. */
	.globl low_segment_marker
low_segment_marker:
	.ascii	"entry segment\0"

	.section .data
	.globl multiboot_magic, multiboot_info
multiboot_magic:	.long 0
multiboot_info:		.long 0

	.section .note.GNU-stack, "", @progbits
