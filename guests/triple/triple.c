/* Triple-faults on purpose: with an empty IDT, a breakpoint cannot be delivered, the double
 * fault cannot be either, and the CPU shuts down.  hopvm must report it and exit 101. */
#include "guest.h"

int guest_main(void)
{
	static const struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} empty_idt = { 0, 0 };

	serial_puts("about to triple fault\n");
	__asm__ volatile("lidt %0; int3" : : "m"(empty_idt));
	serial_puts("still alive after the triple fault?\n");
	return 1;
}
