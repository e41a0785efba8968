/* The test devices' state across a migration (hopvm run --test-devices): sets pc-testdev's
 * scratch register and window and a pci-testdev count, waits for a byte on COM1 (polled: it
 * comes after the move), then checks that all of it arrived. */
#include <stdbool.h>

#include "guest.h"

#define SCRATCH_PORT 0xe0
#define IOMEM_BASE 0xff000000UL
#define COM1_LSR (GUEST_ABI_COM1_PORT + 5)
#define TESTDEV_ID 0x00051b36
#define SCRATCH_VALUE 0xc0ffee11u
#define PCI_TEST 0		/* portio-no-eventfd: it counts every write */
#define PCI_WRITES 5


static uint16_t pci_testdev_io_bar(void)
{
	int slot = pci_find(TESTDEV_ID);

	if (slot < 0)
		return 0;
	pci_config_write((unsigned)slot, 0x04, 0x1);	/* decode I/O */
	return (uint16_t)(pci_config_read((unsigned)slot, 0x14) & ~0x3u);
}

static uint32_t pattern(unsigned word)
{
	return word * 0x9e3779b9u + 7;
}

int guest_main(void)
{
	volatile uint32_t *iomem = (volatile uint32_t *)IOMEM_BASE;
	uint16_t io = pci_testdev_io_bar();
	unsigned bad_words = 0;
	uint32_t offset, scratch, count;
	uint8_t data;

	if (io == 0 || inl(SCRATCH_PORT) == 0xffffffff) {
		serial_puts("testdev-state: FAIL: no test devices (--test-devices)\n");
		return 2;
	}
	outl(SCRATCH_PORT, SCRATCH_VALUE);
	for (unsigned w = 0; w < 0x10000 / 4; w += 61)
		iomem[w] = pattern(w);
	outb(io, PCI_TEST);
	offset = inl((uint16_t)(io + 4));
	data = inb((uint16_t)(io + 8));
	for (unsigned i = 0; i < PCI_WRITES; i++)
		outb((uint16_t)(io + offset), data);
	serial_puts("testdev-state: set; waiting for a line\n");

	while (!(inb(COM1_LSR) & 1))
		__asm__ volatile("pause");

	scratch = inl(SCRATCH_PORT);
	for (unsigned w = 0; w < 0x10000 / 4; w += 61)
		bad_words += iomem[w] != pattern(w);
	count = inl((uint16_t)(io + 12));
	serial_printf("testdev-state: scratch 0x%x, %u window words changed, pci-testdev test %u "
		      "count %u\n", scratch, bad_words, inb(io), count);
	if (scratch != SCRATCH_VALUE || bad_words != 0 || inb(io) != 3 + PCI_TEST ||
	    count != PCI_WRITES) {
		serial_puts("testdev-state: FAIL\n");
		return 1;
	}
	serial_puts("testdev-state: PASS\n");
	return 0;
}
