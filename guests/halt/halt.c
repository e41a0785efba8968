/* Halts with interrupts off, which nothing can end: hopvm must notice and exit 100 instead of
 * waiting for ever.  The other vCPUs are never started, and cannot help either. */
#include "guest.h"

int guest_main(void)
{
	serial_puts("halt: halting with interrupts off\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}
