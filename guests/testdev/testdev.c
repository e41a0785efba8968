/* QEMU's test devices as a test kernel uses them (hopvm run --test-devices): pc-testdev's
 * scratch register, its IRQ lines delivered through the IOAPIC, its MMIO window and its page
 * flush, then pci-testdev found on the PCI bus and its tests run as kvm-unit-tests runs them.
 * Exit status 0 when every check passes, 1 when one fails, 2 when the devices are absent. */
#include <stdbool.h>

#include "guest.h"
#include "interrupts.h"
#include "x86.h"

#define SCRATCH_PORT 0xe0
#define FLUSH_PORT 0xe4
#define SCRATCH_BYTE_PORT 0xe8
#define IRQ_PORT 0x2000
#define IOMEM_BASE 0xff000000UL
#define IOMEM_SIZE 0x10000

#define IOAPIC_BASE 0xfec00000UL
#define IOAPIC_REDTBL(pin) (0x10 + 2 * (pin))
#define IOAPIC_LEVEL (1u << 15)
#define IOAPIC_MASKED (1u << 16)

/* ISA lines, on the PIC too (masked there).  QEMU's device reaches only lines 0-15 (it
 * aborts on a higher one), so the guest stays below to run unchanged there. */
#define EDGE_IRQ 14
#define LEVEL_IRQ 11
#define EDGE_VECTOR 0x40
#define LEVEL_VECTOR 0x41
#define WATCHDOG_VECTOR 0xf0
#define SPURIOUS_VECTOR 0xff
#define WATCHDOG_MS 500
#define LAPIC_TICKS_PER_MS (1000000000u / 16 / 1000)	/* KVM's 1 GHz APIC bus, divided by 16 */

#define TESTDEV_ID 0x00051b36	/* device << 16 | vendor */
#define TEST_WRITES 16

static unsigned failures;



static void check(bool ok, const char *what)
{
	serial_printf("testdev: %s: %s\n", what, ok ? "ok" : "FAIL");
	failures += !ok;
}

/* --- pc-testdev ----------------------------------------------------------------------- */

static void check_scratch(void)
{
	outl(SCRATCH_PORT, 0x12345678);
	check(inl(SCRATCH_PORT) == 0x12345678, "scratch register reads back 32 bits");
	outb(SCRATCH_PORT + 1, 0xaa);
	check(inl(SCRATCH_PORT) == 0x1234aa78 && inw(SCRATCH_PORT + 2) == 0x1234 &&
	      inb(SCRATCH_PORT + 1) == 0xaa, "scratch register by bytes and words");
	check(inb(SCRATCH_BYTE_PORT + 3) == 0x12 && inl(SCRATCH_BYTE_PORT) == 0x1234aa78,
	      "scratch register through port 0xe8");
}

static volatile unsigned edge_interrupts, level_interrupts, watchdog_fired;

static void ioapic_write(unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)IOAPIC_BASE = reg;
	*(volatile uint32_t *)(IOAPIC_BASE + 0x10) = value;
}

static void edge_interrupt(struct int_frame *frame)
{
	(void)frame;
	edge_interrupts++;
	lapic_write(LAPIC_EOI, 0);
}

/* A level-triggered line fires again after the EOI unless the device lowered it first. */
static void level_interrupt(struct int_frame *frame)
{
	(void)frame;
	level_interrupts++;
	outb(IRQ_PORT + LEVEL_IRQ, 0);
	lapic_write(LAPIC_EOI, 0);
}

static void watchdog_interrupt(struct int_frame *frame)
{
	(void)frame;
	watchdog_fired = 1;
	lapic_write(LAPIC_EOI, 0);
}

static void spurious_interrupt(struct int_frame *frame)
{
	(void)frame;
}

/* Waits until *counter reaches want, or the LAPIC timer says it never will. */
static bool wait_for(volatile unsigned *counter, unsigned want)
{
	watchdog_fired = 0;
	lapic_write(LAPIC_TIMER_INITIAL, WATCHDOG_MS * LAPIC_TICKS_PER_MS);
	while (*counter < want && !watchdog_fired)
		wait_for_interrupt();
	lapic_write(LAPIC_TIMER_INITIAL, 0);
	return *counter == want;
}

static void check_irq_lines(void)
{
	uint32_t dest = this_apic_id() << 24;

	idt_init();
	pic_init();	/* every PIC line masked: these arrive through the IOAPIC alone */
	idt_set_handler(EDGE_VECTOR, edge_interrupt);
	idt_set_handler(LEVEL_VECTOR, level_interrupt);
	idt_set_handler(WATCHDOG_VECTOR, watchdog_interrupt);
	idt_set_handler(SPURIOUS_VECTOR, spurious_interrupt);
	lapic_write(LAPIC_SVR, 0x100 | SPURIOUS_VECTOR);
	lapic_write(LAPIC_TIMER_DIVIDE, 0x3);	/* by 16 */
	lapic_write(LAPIC_LVT_TIMER, WATCHDOG_VECTOR);	/* one-shot */
	ioapic_write(IOAPIC_REDTBL(EDGE_IRQ) + 1, dest);
	ioapic_write(IOAPIC_REDTBL(EDGE_IRQ), EDGE_VECTOR);
	ioapic_write(IOAPIC_REDTBL(LEVEL_IRQ) + 1, dest);
	ioapic_write(IOAPIC_REDTBL(LEVEL_IRQ), IOAPIC_LEVEL | LEVEL_VECTOR);

	/* An edge needs the line to fall before it can rise again. */
	outb(IRQ_PORT + EDGE_IRQ, 1);
	check(wait_for(&edge_interrupts, 1), "IRQ 14 raised through port 0x200e arrives");
	outb(IRQ_PORT + EDGE_IRQ, 0);
	outb(IRQ_PORT + EDGE_IRQ, 1);
	check(wait_for(&edge_interrupts, 2), "IRQ 14 lowered and raised again arrives again");
	outb(IRQ_PORT + EDGE_IRQ, 0);

	/* Not checked: that nothing follows once the handler lowered the line.  Under PVM the
	 * vector comes a second time, with QEMU as with hopvm: the LAPIC's EOI leaves the
	 * IOAPIC's remote IRR set, and the LAPIC has the vector pending again. */
	outb(IRQ_PORT + LEVEL_IRQ, 1);
	check(wait_for(&level_interrupts, 1), "level-triggered IRQ 11 through port 0x200b arrives");

	ioapic_write(IOAPIC_REDTBL(EDGE_IRQ), IOAPIC_MASKED);
	ioapic_write(IOAPIC_REDTBL(LEVEL_IRQ), IOAPIC_MASKED);
	lapic_write(LAPIC_LVT_TIMER, 1u << 16);
	serial_printf("testdev: %u edge and %u level interrupts\n", edge_interrupts,
		      level_interrupts);
}

static void check_iomem(void)
{
	volatile uint32_t *w = (volatile uint32_t *)IOMEM_BASE;
	volatile uint64_t *q = (volatile uint64_t *)IOMEM_BASE;
	volatile uint8_t *b = (volatile uint8_t *)IOMEM_BASE;

	w[0] = 0xdeadbeef;
	w[IOMEM_SIZE / 4 - 1] = 0x01020304;
	q[8] = 0x1122334455667788ULL;
	b[0x201] = 0xab;
	check(w[0] == 0xdeadbeef && w[IOMEM_SIZE / 4 - 1] == 0x01020304,
	      "iomem window at 0xff000000 keeps 32-bit writes, up to its last word");
	check(q[8] == 0x1122334455667788ULL && w[17] == 0x11223344 && b[0x40] == 0x88,
	      "iomem window keeps 64-bit writes, read back at every width");
	check(b[0x200] == 0 && b[0x201] == 0xab && w[0x80] == 0xab00, "iomem window keeps bytes");
}

static uint8_t flush_page[4096] __attribute__((aligned(4096)));

static void check_page_flush(void)
{
	bool kept = true;

	for (unsigned i = 0; i < sizeof(flush_page); i++)
		flush_page[i] = (uint8_t)(i * 13 + 5);
	outl(FLUSH_PORT, (uint32_t)(uintptr_t)flush_page + 0x80);
	for (unsigned i = 0; i < sizeof(flush_page); i++)
		kept &= flush_page[i] == (uint8_t)(i * 13 + 5);
	flush_page[7] = 0x99;
	check(kept && flush_page[7] == 0x99, "page flush through port 0xe4 keeps the page");
	/* A page that is not RAM is refused; the device goes on working. */
	outl(FLUSH_PORT, 0xd0000000);
	outl(SCRATCH_PORT, 0xfeedface);
	check(inl(SCRATCH_PORT) == 0xfeedface, "page flush of a non-RAM page refused");
}

/* --- pci-testdev ---------------------------------------------------------------------- */

/* A BAR's byte and dword accesses, memory or port I/O. */
struct bar {
	uintptr_t base;
	bool io;
};

static uint8_t bar_read8(const struct bar *b, uint32_t off)
{
	return b->io ? inb((uint16_t)(b->base + off)) : *(volatile uint8_t *)(b->base + off);
}

static uint32_t bar_read32(const struct bar *b, uint32_t off)
{
	return b->io ? inl((uint16_t)(b->base + off)) : *(volatile uint32_t *)(b->base + off);
}

static void bar_write8(const struct bar *b, uint32_t off, uint8_t v)
{
	if (b->io)
		outb((uint16_t)(b->base + off), v);
	else
		*(volatile uint8_t *)(b->base + off) = v;
}

/* lib/pci-testdev.c's walk: select each test in turn until one reads back empty, write its
 * data to its address, and check the count: every write for the first test of each BAR, none
 * for the two whose writes QEMU gives an ioeventfd.  Returns how many tests passed. */
static unsigned run_pci_tests(const struct bar *b)
{
	unsigned n;

	for (n = 0;; n++) {
		char name[40];
		uint32_t offset, count;
		uint8_t data;
		unsigned i;

		bar_write8(b, 0, (uint8_t)n);
		if (bar_read8(b, 1) != 1 || bar_read32(b, 12) != 0)
			break;
		data = (uint8_t)bar_read32(b, 8);
		offset = bar_read32(b, 4);
		for (i = 0; i < sizeof(name) - 1 && (name[i] = (char)bar_read8(b, 16 + i)); i++)
			;
		name[i] = '\0';
		for (i = 0; i < TEST_WRITES; i++)
			bar_write8(b, offset, data);
		count = bar_read32(b, 12);
		serial_printf("testdev: pci-testdev %s test %u (%s) at offset %u, data 0x%x: "
			      "count %u\n", b->io ? "io" : "mem", n, name, offset, data, count);
		if (count != (n % 3 == 0 ? TEST_WRITES : 0)) {
			check(false, "pci-testdev counts as QEMU does");
			break;
		}
	}
	return n;
}

static void check_pci_testdev(int slot)
{
	struct bar mem = { pci_config_read((unsigned)slot, 0x10) & ~0xfu, false };
	struct bar io = { pci_config_read((unsigned)slot, 0x14) & ~0x3u, true };
	unsigned nr;

	serial_printf("testdev: pci-testdev in slot %d, memory BAR 0x%lx, I/O BAR 0x%lx\n", slot,
		      (unsigned long)mem.base, (unsigned long)io.base);
	check(mem.base != 0 && (pci_config_read((unsigned)slot, 0x14) & 1) && io.base != 0,
	      "pci-testdev has a memory BAR and an I/O BAR");
	pci_config_write((unsigned)slot, 0x04, 0x3);	/* decode I/O and memory */
	nr = run_pci_tests(&mem);
	check(nr == 3, "pci-testdev's memory BAR holds 3 tests");
	nr = run_pci_tests(&io);
	check(nr == 3, "pci-testdev's I/O BAR holds 3 tests");
}

int guest_main(void)
{
	uint32_t scratch = inl(SCRATCH_PORT);
	int slot = pci_find(TESTDEV_ID);

	if (scratch == 0xffffffff) {
		serial_printf("testdev: the scratch port 0xe0 reads 0x%x: no pc-testdev "
			      "(hopvm run --test-devices adds it)\n", scratch);
		serial_printf("testdev: %s\n", slot < 0 ? "no pci-testdev on the PCI bus either"
						       : "but pci-testdev is on the PCI bus");
		return 2;
	}
	check(scratch == 0, "scratch register starts at 0");
	check_scratch();
	check_irq_lines();
	check_iomem();
	check_page_flush();
	check(slot >= 0, "pci-testdev found on the PCI bus");
	if (slot >= 0)
		check_pci_testdev(slot);
	if (failures != 0) {
		serial_printf("testdev: FAIL: %u checks failed\n", failures);
		return 1;
	}
	serial_puts("testdev: PASS\n");
	return 0;
}
