/* The 64-bit end of the modes guest: checks that the CPU really is in long mode. */
#include "guest.h"

static uint64_t read_efer(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000080));
	return ((uint64_t)hi << 32) | lo;
}

int guest_main(void)
{
	uint64_t cr0, cr4, efer = read_efer();

	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	if (!(efer & (1 << 10)) || !(cr0 & (1UL << 31)) || !(cr4 & (1 << 5))) {
		serial_printf("modes: FAIL: not in long mode (EFER 0x%lx CR0 0x%lx CR4 0x%lx)\n",
			      (unsigned long)efer, (unsigned long)cr0, (unsigned long)cr4);
		return 1;
	}
	serial_puts("modes: 64-bit long mode\n");
	return 0;
}
