/* A guest to migrate and ask about its CPU again: prints its CPUID flags, waits for a line on
 * COM1 (typed once the guest has moved), prints them again and ends.  The two lines must
 * agree: the destination gives the guest the source's CPU model. */
#include "cpu_flags.h"
#include "guest.h"
#include "x86.h"

#define LSR_OFFSET 5
#define LSR_DATA_READY 0x01
#define POLL_PAUSES 10000	/* between two looks at COM1: each look is a VM exit */

static void wait_for_line(void)
{
	for (;;) {
		if (!(inb(GUEST_ABI_COM1_PORT + LSR_OFFSET) & LSR_DATA_READY)) {
			for (unsigned i = 0; i < POLL_PAUSES; i++)
				cpu_relax();
			continue;
		}
		if (inb(GUEST_ABI_COM1_PORT) == '\n')
			return;
	}
}

int guest_main(void)
{
	cpu_flags_print("cpumove: before");
	serial_puts("cpumove: waiting for a line\n");
	wait_for_line();
	cpu_flags_print("cpumove: after");
	return 0;
}
