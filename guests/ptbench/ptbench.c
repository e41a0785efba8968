/* Nested against shadow paging: two workloads over guest page tables with 4 KiB pages,
 * timed with the TSC.
 *   tlb=N      random reads over all RAM above 32 MiB: each a TLB miss, a page walk
 *              that nested paging makes two-dimensional
 *   updates=N  map a page, touch it, unmap it: page-table writes, which shadow paging must
 *              trap to keep its shadow tables in step */
#include "guest.h"
#include "pagetable.h"
#include "x86.h"

#define REGION_START (32ULL << 20)
#define SCRATCH_VA 0x0000400000000000ULL

static uint8_t scratch[64][4096] __attribute__((aligned(4096)));

int guest_main(void)
{
	unsigned long tlb = cmdline_value("tlb", 2000000), updates = cmdline_value("updates", 100000);
	uint64_t top = multiboot_ram_top(), pages, x = 88172645463325252ULL, sum = 0, t;
	uint64_t tlb_ticks, update_ticks;

	if (top <= REGION_START + (64ULL << 20)) {
		serial_puts("ptbench: FAIL: give the guest at least 128 MiB\n");
		return 1;
	}
	pt_init();
	if (pt_identity_map_and_load(top) < 0) {
		serial_puts("ptbench: FAIL: out of page-table pages\n");
		return 1;
	}
	pages = (top - REGION_START) / PAGE_SIZE;
	for (uint64_t p = 0; p < pages; p++)	/* first touches fault in host memory: not timed */
		*(volatile uint64_t *)(uintptr_t)(REGION_START + p * PAGE_SIZE) = p;

	t = rdtsc();
	for (unsigned long i = 0; i < tlb; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		sum += *(volatile uint64_t *)(uintptr_t)(REGION_START + (x % pages) * PAGE_SIZE);
	}
	tlb_ticks = (rdtsc() - t) / tlb;

	t = rdtsc();
	for (unsigned long i = 0; i < updates; i++) {
		uint64_t va = SCRATCH_VA + (i % 64) * PAGE_SIZE;

		pt_map(va, (uint64_t)(uintptr_t)scratch[i % 64]);
		*(volatile uint64_t *)(uintptr_t)va = i;
		pt_unmap(va);
	}
	update_ticks = (rdtsc() - t) / updates;
	serial_printf("ptbench: %lu MiB, tlb-miss %lu ticks per read, pt-update %lu ticks per "
		      "map/touch/unmap (checksum %lu)\n", (unsigned long)(top >> 20),
		      (unsigned long)tlb_ticks, (unsigned long)update_ticks, (unsigned long)(sum & 0xff));
	return 0;
}
