/* Fills all RAM above itself with a pattern that depends on each address, then checks every
 * word: guest-physical memory must be exactly what was written, through EPT/NPT, everywhere.
 * Built as a Multiboot kernel, to learn the RAM size from the memory map. */
#include "guest.h"

extern char __bss_end[];

static uint64_t pattern(uint64_t addr, uint64_t pass)
{
	return (addr * 0x9e3779b97f4a7c15ULL) ^ (pass << 56) ^ addr;
}

int guest_main(void)
{
	uint64_t start = ((uint64_t)(uintptr_t)__bss_end + 0xfff) & ~0xfffULL;
	uint64_t top = multiboot_ram_top(), bad = 0;

	if (top <= start) {
		serial_puts("memtest: FAIL: no memory map\n");
		return 1;
	}
	serial_printf("memtest: testing 0x%lx-0x%lx (%lu MiB)\n", (unsigned long)start,
		      (unsigned long)top, (unsigned long)((top - start) >> 20));
	for (uint64_t pass = 0; pass < 2; pass++) {
		for (uint64_t a = start; a < top; a += 8)
			*(volatile uint64_t *)(uintptr_t)a = pattern(a, pass);
		for (uint64_t a = start; a < top; a += 8) {
			if (*(volatile uint64_t *)(uintptr_t)a != pattern(a, pass)) {
				if (bad++ < 5)
					serial_printf("memtest: mismatch at 0x%lx\n", (unsigned long)a);
			}
		}
	}
	if (bad) {
		serial_printf("memtest: FAIL: %lu bad words\n", (unsigned long)bad);
		return 1;
	}
	serial_printf("memtest: PASS: RAM ends at 0x%lx\n", (unsigned long)top);
	return 0;
}
