/* The exit-cost workload: "exits=N" (default a million) writes to port 0x80, a port with
 * nothing behind it, each one a VM exit served in userspace; timed with the TSC. */
#include "guest.h"
#include "x86.h"

#define IDLE_PORT 0x80

int guest_main(void)
{
	unsigned long n = cmdline_value("exits", 1000000);
	uint64_t start, ticks;

	start = rdtsc();
	for (unsigned long i = 0; i < n; i++)
		outb(IDLE_PORT, 0);
	ticks = rdtsc() - start;
	serial_printf("bench: %lu exits, %lu TSC ticks each\n", n, (unsigned long)(ticks / n));
	return 0;
}
