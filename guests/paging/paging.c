/* Builds its own 4-level page tables with 4 KiB pages over all of RAM, maps a page at a high
 * virtual address, unmaps it, and handles the page fault that follows.  Guest-virtual to
 * guest-physical is the guest's own work here; guest-physical to host-physical is EPT/NPT's.
 * Built as a Multiboot kernel, to learn the RAM size from the memory map. */
#include "guest.h"
#include "interrupts.h"

#define PAGE 4096ULL
#define PTE_P 0x1ULL
#define PTE_W 0x2ULL
#define TABLE_POOL_PAGES 512	/* enough for 4 KiB pages over 1 GiB of RAM */
#define HIGH_VA 0x0000400000000000ULL	/* far above RAM, still canonical */
#define VECTOR_PF 14

static uint64_t pool[TABLE_POOL_PAGES][512] __attribute__((aligned(4096)));
static unsigned pool_used;
static uint64_t *pml4;
static uint64_t fault_cr2, fault_error, remap_to;
static volatile unsigned faults;
static uint8_t data_pages[2][4096] __attribute__((aligned(4096)));

static uint64_t *new_table(void)
{
	if (pool_used == TABLE_POOL_PAGES)
		return 0;
	return pool[pool_used++];	/* bss: already zero */
}

/* The PTE for va, creating the tables above it. */
static uint64_t *pte_of(uint64_t va)
{
	uint64_t *table = pml4;

	for (int shift = 39; shift > 12; shift -= 9) {
		uint64_t *e = &table[(va >> shift) & 511];

		if (!(*e & PTE_P)) {
			uint64_t *t = new_table();

			if (t == 0)
				return 0;
			*e = (uint64_t)(uintptr_t)t | PTE_P | PTE_W;
		}
		table = (uint64_t *)(uintptr_t)(*e & ~0xfffULL);
	}
	return &table[(va >> 12) & 511];
}

static int map(uint64_t va, uint64_t pa)
{
	uint64_t *pte = pte_of(va);

	if (pte == 0)
		return -1;
	*pte = pa | PTE_P | PTE_W;
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
	return 0;
}

static void page_fault(struct int_frame *frame)
{
	__asm__ volatile("mov %%cr2, %0" : "=r"(fault_cr2));
	fault_error = frame->error_code;
	faults++;
	map(fault_cr2 & ~(PAGE - 1), remap_to);	/* the access is retried on return */
}

int guest_main(void)
{
	uint64_t top = multiboot_ram_top(), pa0, pa1;
	volatile uint64_t *high = (volatile uint64_t *)HIGH_VA;

	idt_init();
	idt_set_handler(VECTOR_PF, page_fault);
	if (top == 0) {
		serial_puts("paging: FAIL: no memory map\n");
		return 1;
	}
	pml4 = new_table();
	for (uint64_t a = 0; a < top; a += PAGE) {
		if (map(a, a) < 0) {
			serial_puts("paging: FAIL: out of page-table pages\n");
			return 1;
		}
	}
	__asm__ volatile("mov %0, %%cr3" : : "r"(pml4) : "memory");
	serial_printf("paging: %lu MiB mapped with 4 KiB pages, %u table pages\n",
		      (unsigned long)(top >> 20), pool_used);

	pa0 = (uint64_t)(uintptr_t)data_pages[0];
	pa1 = (uint64_t)(uintptr_t)data_pages[1];
	map(HIGH_VA, pa0);
	*high = 0x1234abcd;
	if (*(volatile uint64_t *)(uintptr_t)pa0 != 0x1234abcd) {
		serial_puts("paging: FAIL: the high mapping does not reach its page\n");
		return 1;
	}
	serial_printf("paging: 0x%lx maps to 0x%lx\n", (unsigned long)HIGH_VA, (unsigned long)pa0);

	*pte_of(HIGH_VA) = 0;	/* unmap */
	__asm__ volatile("invlpg (%0)" : : "r"(HIGH_VA) : "memory");
	remap_to = pa1;
	*high = 0x5678;	/* faults; the handler maps the second page and the write is retried */
	if (faults != 1 || fault_cr2 != HIGH_VA || (fault_error & 1) ||
	    *(volatile uint64_t *)(uintptr_t)pa1 != 0x5678 ||
	    *(volatile uint64_t *)(uintptr_t)pa0 != 0x1234abcd) {
		serial_printf("paging: FAIL: faults %u at 0x%lx error 0x%lx\n", faults,
			      (unsigned long)fault_cr2, (unsigned long)fault_error);
		return 1;
	}
	serial_printf("paging: page fault at 0x%lx (error code 0x%lx) handled, write retried\n",
		      (unsigned long)fault_cr2, (unsigned long)fault_error);
	serial_puts("paging: PASS\n");
	return 0;
}
