/* The first guest: greets through COM1 and exits with status 0. */
#include "guest.h"

int guest_main(void)
{
	serial_puts("Hello from a hopvm guest!\n");
	return 0;
}
