/* The guest's init for hopvm exec (guests/exec-init, a static program), carried inside hopvm
 * so that exec needs no file beside the binary.  EXEC_INIT_PATH comes from the Makefile. */
	.section .rodata
	.balign 16
	.global exec_init_image
exec_init_image:
	.incbin EXEC_INIT_PATH
	.global exec_init_image_end
exec_init_image_end:
	.section .note.GNU-stack, "", @progbits
