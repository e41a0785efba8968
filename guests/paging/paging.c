/* Builds its own 4-level page tables with 4 KiB pages over all of RAM, maps a page at a high
 * virtual address, unmaps it, and handles the page fault that follows.  Guest-virtual to
 * guest-physical is the guest's own work here; guest-physical to host-physical is EPT/NPT's.
 * Built as a Multiboot kernel, to learn the RAM size from the memory map. */
#include "guest.h"
#include "interrupts.h"
#include "pagetable.h"

#define HIGH_VA 0x0000400000000000ULL	/* far above RAM, still canonical */
#define VECTOR_PF 14

static uint64_t fault_cr2, fault_error, remap_to;
static volatile unsigned faults;
static uint8_t data_pages[2][4096] __attribute__((aligned(4096)));

static void page_fault(struct int_frame *frame)
{
	__asm__ volatile("mov %%cr2, %0" : "=r"(fault_cr2));
	fault_error = frame->error_code;
	faults++;
	pt_map(fault_cr2 & ~(PAGE_SIZE - 1), remap_to);	/* the access is retried on return */
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
	pt_init();
	if (pt_identity_map_and_load(top) < 0) {
		serial_puts("paging: FAIL: out of page-table pages\n");
		return 1;
	}
	serial_printf("paging: %lu MiB mapped with 4 KiB pages, %u table pages\n",
		      (unsigned long)(top >> 20), pt_pages_used());

	pa0 = (uint64_t)(uintptr_t)data_pages[0];
	pa1 = (uint64_t)(uintptr_t)data_pages[1];
	pt_map(HIGH_VA, pa0);
	*high = 0x1234abcd;
	if (*(volatile uint64_t *)(uintptr_t)pa0 != 0x1234abcd) {
		serial_puts("paging: FAIL: the high mapping does not reach its page\n");
		return 1;
	}
	serial_printf("paging: 0x%lx maps to 0x%lx\n", (unsigned long)HIGH_VA, (unsigned long)pa0);

	pt_unmap(HIGH_VA);
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
