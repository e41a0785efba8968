/* Prints a burst of numbered lines as fast as COM1 takes them, so a test can check that hopvm
 * loses and reorders nothing on its way to a slow reader. */
#include "guest.h"

#define LINES 4096

int guest_main(void)
{
	for (unsigned i = 0; i < LINES; i++)
		serial_printf("burst %u of %u: the quick brown fox\n", i, LINES);
	serial_puts("burst: done\n");
	return 0;
}
