/* Exits through port 0xf4 with a status of its own choosing (42), so tests can see that the
 * guest's status becomes hopvm's.  It also uses string I/O (outsb) for part of its output,
 * which hopvm must replay byte by byte on the same port. */
#include "guest.h"

#define EXIT_STATUS 42

int guest_main(void)
{
	static const char line[] = "string I/O works\n";
	const char *p = line;
	unsigned long n = sizeof(line) - 1;

	__asm__ volatile("rep outsb" : "+S"(p), "+c"(n) : "d"(GUEST_ABI_COM1_PORT) : "memory");
	serial_printf("exiting with status %d\n", EXIT_STATUS);
	return EXIT_STATUS;
}
