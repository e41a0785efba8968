/* QEMU's test devices as a guest reaches them through the buses: pc-testdev's scratch
 * register, IRQ block, window and page flush over a heap buffer as guest RAM, and
 * pci-testdev's test tables walked as kvm-unit-tests' lib/pci-testdev.c walks them. */
#include <errno.h>
#include <stdlib.h>

#include "hopvm/bus.h"
#include "hopvm/device_state.h"
#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/pc_testdev.h"
#include "hopvm/pci.h"
#include "hopvm/pci_testdev.h"
#include "unit.h"

#define RAM_SIZE (64 * 1024)
#define TESTDEV_SLOT 1

static struct bus pio, mmio;
static struct guest_mem mem;
static uint8_t *ram;
static struct pc_testdev *td;
static struct pci_bus pci;
static struct pci_device bridge;
static struct pci_testdev ptd;

static unsigned irq_calls, irq_line;
static int irq_level;
static struct {
	unsigned line;
	int level;
} irq_log[16];
static unsigned irq_log_len;
static unsigned quiesce_calls;
static bool quiet_now;

static void record_irq(void *ctx, unsigned line, int level)
{
	assert_ptr_equal(ctx, &irq_calls);
	irq_calls++;
	irq_line = line;
	irq_level = level;
	if (irq_log_len < sizeof(irq_log) / sizeof(irq_log[0]))
		irq_log[irq_log_len++] = (typeof(irq_log[0])){ .line = line, .level = level };
}

static void record_quiesce(void *ctx, bool quiet)
{
	assert_ptr_equal(ctx, &irq_calls);
	assert_true(quiet != quiet_now);
	quiet_now = quiet;
	quiesce_calls++;
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(posix_memalign((void **)&ram, 4096, RAM_SIZE), 0);
	memset(ram, 0, RAM_SIZE);
	guest_mem_init_buffer(&mem, ram, RAM_SIZE);
	td = malloc(sizeof(*td));
	assert_non_null(td);
	pc_testdev_init(td, &mem, record_irq, record_quiesce, &irq_calls);
	irq_calls = quiesce_calls = 0;
	quiet_now = false;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	assert_int_equal(bus_register(&pio, PC_TESTDEV_PORT, PC_TESTDEV_NR_PORTS, &pc_testdev_ops,
				      td), 0);
	assert_int_equal(bus_register(&pio, PC_TESTDEV_IRQ_PORT, PC_TESTDEV_NR_IRQS,
				      &pc_testdev_irq_ops, td), 0);
	assert_int_equal(bus_register(&mmio, PC_TESTDEV_IOMEM_BASE, PC_TESTDEV_IOMEM_SIZE,
				      &pc_testdev_iomem_ops, td), 0);

	pci_bus_init(&pci);
	pci_host_bridge_init(&bridge);
	assert_int_equal(pci_testdev_init(&ptd), 0);
	assert_int_equal(pci_bus_add(&pci, 0, &bridge), 0);
	assert_int_equal(pci_bus_add(&pci, TESTDEV_SLOT, &ptd.pci), 0);
	assert_int_equal(bus_register(&pio, PCI_CONFIG_PORT, PCI_CONFIG_NR_PORTS, &pci_config_ops,
				      &pci), 0);
	assert_int_equal(bus_register(&pio, PCI_IO_WINDOW_BASE, PCI_IO_WINDOW_SIZE,
				      &pci_io_window_ops, &pci), 0);
	assert_int_equal(bus_register(&mmio, PCI_MMIO_WINDOW_BASE, PCI_MMIO_WINDOW_SIZE,
				      &pci_mmio_window_ops, &pci), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bus_free(&pio);
	bus_free(&mmio);
	pci_testdev_destroy(&ptd);
	pci_bus_free(&pci);
	pc_testdev_destroy(td);
	free(td);
	guest_mem_free(&mem);
	free(ram);
	return 0;
}

/* An access through a bus: its value, or -1 for a refused one (which must read all-ones). */
static int64_t bus_get(const struct bus *bus, uint64_t addr, unsigned size)
{
	uint8_t d[8] = { 0 };

	if (bus_read(bus, addr, d, size) < 0) {
		for (unsigned i = 0; i < size; i++)
			assert_int_equal(d[i], 0xff);
		return -1;
	}
	return (int64_t)(le64_get(d) & (size == 8 ? UINT64_MAX : (1ULL << (8 * size)) - 1));
}

static int bus_put(const struct bus *bus, uint64_t addr, unsigned size, uint64_t v)
{
	uint8_t d[8];

	le64_put(d, v);
	return bus_write(bus, addr, d, size);
}

static void test_scratch_at_each_size(void **state)
{
	(void)state;
	assert_int_equal(bus_get(&pio, 0xe0, 4), 0);
	assert_int_equal(bus_put(&pio, 0xe0, 4, 0x12345678), 0);
	assert_int_equal(bus_get(&pio, 0xe0, 4), 0x12345678);
	assert_int_equal(bus_get(&pio, 0xe0, 2), 0x5678);
	assert_int_equal(bus_get(&pio, 0xe2, 2), 0x1234);
	assert_int_equal(bus_get(&pio, 0xe1, 1), 0x56);
	assert_int_equal(bus_get(&pio, 0xe3, 1), 0x12);
	/* A narrower write changes only its own bytes. */
	assert_int_equal(bus_put(&pio, 0xe3, 1, 0xab), 0);
	assert_int_equal(bus_put(&pio, 0xe0, 2, 0xcdef), 0);
	assert_int_equal(bus_get(&pio, 0xe0, 4), 0xab34cdef);
	/* 0xe8 is the same register. */
	assert_int_equal(bus_get(&pio, 0xe8, 4), 0xab34cdef);
	assert_int_equal(bus_put(&pio, 0xe9, 2, 0x7766), 0);
	assert_int_equal(bus_get(&pio, 0xe0, 4), 0xab7766ef);
	assert_int_equal(bus_get(&pio, 0xe9, 2), 0x7766);
}

static void test_refused_port_accesses(void **state)
{
	(void)state;
	assert_int_equal(bus_put(&pio, 0xe0, 4, 0x11223344), 0);
	/* Past the register's end, into the flush port; a flush of another size. */
	assert_int_equal(bus_get(&pio, 0xe3, 2), -1);
	assert_int_equal(bus_get(&pio, 0xe1, 4), -1);
	assert_int_equal(bus_put(&pio, 0xe2, 4, 0), -EINVAL);
	assert_int_equal(bus_get(&pio, 0xe0, 4), 0x11223344);
	assert_int_equal(bus_get(&pio, 0xe4, 1), -1);
	assert_int_equal(bus_get(&pio, 0xe5, 2), -1);
	assert_int_equal(bus_put(&pio, 0xe4, 2, 0), -EINVAL);
	assert_int_equal(bus_get(&pio, 0xe4, 4), 0);	/* reads give 0, as in QEMU */
	assert_int_equal(bus_get(&pio, 0xea, 4), -1);
	/* Nothing beyond 0xeb, as before the device. */
	assert_int_equal(bus_get(&pio, 0xec, 1), -1);
	assert_int_equal(quiesce_calls, 0);
}

static void test_irq_block(void **state)
{
	(void)state;
	assert_int_equal(bus_put(&pio, 0x2000 + 5, 1, 1), 0);
	assert_int_equal(irq_calls, 1);
	assert_int_equal(irq_line, 5);
	assert_int_equal(irq_level, 1);
	assert_int_equal(bus_put(&pio, 0x2000 + 5, 1, 0), 0);
	assert_int_equal(irq_line, 5);
	assert_int_equal(irq_level, 0);
	/* Any value but 0 raises the line; the last line is 23. */
	assert_int_equal(bus_put(&pio, 0x2000 + 23, 1, 0x80), 0);
	assert_int_equal(irq_line, 23);
	assert_int_equal(irq_level, 1);
	assert_int_equal(bus_put(&pio, 0x2000, 1, 1), 0);
	assert_int_equal(irq_line, 0);
	assert_int_equal(irq_calls, 4);
	/* Line 24 does not exist; 3 bytes is no access size. */
	assert_int_equal(bus_put(&pio, 0x2000 + 24, 1, 1), -ENODEV);
	assert_int_equal(bus_put(&pio, 0x2000 + 4, 3, 1), -EINVAL);
	assert_int_equal(irq_calls, 4);
	assert_int_equal(bus_get(&pio, 0x2000 + 5, 1), 0);
	assert_int_equal(bus_get(&pio, 0x2000 + 5, 2), 0);
	assert_int_equal(bus_get(&pio, 0x2000 + 4, 4), 0);
}

/* A wider write is bytes at consecutive ports, as QEMU's memory core splits it: realmode.c's
 * "outl" of 1 then 0 to port 0x200b pulses line 11 and writes 0 to lines 12-14. */
static void test_irq_block_wide_writes(void **state)
{
	(void)state;
	irq_log_len = 0;
	assert_int_equal(bus_put(&pio, 0x2000 + 11, 4, 1), 0);
	assert_int_equal(bus_put(&pio, 0x2000 + 11, 4, 0), 0);
	assert_int_equal(bus_put(&pio, 0x2000 + 20, 2, 0x0100), 0);
	assert_int_equal(irq_log_len, 10);
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(irq_log[i].line, 11 + i % 4);
		assert_int_equal(irq_log[i].level, i == 0);
	}
	assert_int_equal(irq_log[8].line, 20);
	assert_int_equal(irq_log[8].level, 0);
	assert_int_equal(irq_log[9].line, 21);
	assert_int_equal(irq_log[9].level, 1);
	/* Bytes past line 23 reach nothing: the bus refuses an access that leaves the block. */
	assert_int_equal(bus_put(&pio, 0x2000 + 22, 4, 0x01010101), -ENODEV);
	assert_int_equal(irq_log_len, 10);
}

static void test_iomem_is_storage(void **state)
{
	const uint64_t base = PC_TESTDEV_IOMEM_BASE;

	(void)state;
	assert_int_equal(bus_get(&mmio, base, 8), 0);
	assert_int_equal(bus_put(&mmio, base + 0x10, 8, 0x0807060504030201ULL), 0);
	assert_int_equal(bus_get(&mmio, base + 0x10, 8), 0x0807060504030201LL);
	assert_int_equal(bus_get(&mmio, base + 0x14, 4), 0x08070605);
	assert_int_equal(bus_get(&mmio, base + 0x13, 2), 0x0504);	/* unaligned too */
	assert_int_equal(bus_put(&mmio, base + 0x11, 1, 0xee), 0);
	assert_int_equal(bus_get(&mmio, base + 0x10, 4), 0x0403ee01);
	assert_int_equal(bus_put(&mmio, base + PC_TESTDEV_IOMEM_SIZE - 1, 1, 0x5a), 0);
	assert_int_equal(bus_get(&mmio, base + PC_TESTDEV_IOMEM_SIZE - 1, 1), 0x5a);
	/* The window ends there: an access across its end is refused. */
	assert_int_equal(bus_get(&mmio, base + PC_TESTDEV_IOMEM_SIZE - 1, 2), -1);
	assert_int_equal(bus_put(&mmio, base + PC_TESTDEV_IOMEM_SIZE - 2, 4, 0), -ENODEV);
	assert_int_equal(bus_get(&mmio, base + PC_TESTDEV_IOMEM_SIZE, 1), -1);
	/* Guest RAM is not the window. */
	assert_int_equal(ram[0x10], 0);
}

static void test_page_flush_keeps_the_page(void **state)
{
	uint64_t bitmap[1] = { 0 };

	(void)state;
	for (unsigned i = 0; i < 4096; i++)
		ram[3 * 4096 + i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(guest_mem_dirty_log_start(&mem), 0);
	/* The address may point anywhere in the page. */
	assert_int_equal(bus_put(&pio, 0xe4, 4, 3 * 4096 + 0x123), 0);
	assert_int_equal(quiesce_calls, 2);
	assert_false(quiet_now);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(ram[3 * 4096 + i], (uint8_t)(i * 7 + 1));
	ram[3 * 4096] = 0x42;	/* still writable */
	assert_int_equal(ram[3 * 4096], 0x42);
	/* The flushed page counts as written for a migration; no other does. */
	guest_mem_dirty_collect(&mem, 0, bitmap);
	assert_int_equal(bitmap[0], 1ULL << 3);
	guest_mem_dirty_log_stop(&mem);

	/* Outside RAM, or a page that runs past its end: refused, nothing quiesced. */
	err_clear();
	assert_int_equal(bus_put(&pio, 0xe4, 4, RAM_SIZE), -EFAULT);
	assert_err_mentions("not guest RAM");
	assert_int_equal(pc_testdev_flush_page(td, 0xfffff000), -EFAULT);
	assert_int_equal(quiesce_calls, 2);
	assert_int_equal(pc_testdev_flush_page(td, RAM_SIZE - 1), 0);
}

static void test_pc_testdev_save_load_reset(void **state)
{
	const struct device_ops *ops = &pc_testdev_ops;
	size_t len = 8 + PC_TESTDEV_IOMEM_SIZE;
	uint8_t *buf = malloc(len + 1);

	(void)state;
	assert_non_null(buf);
	assert_int_equal(bus_put(&pio, 0xe0, 4, 0xdeadbeef), 0);
	assert_int_equal(bus_put(&mmio, PC_TESTDEV_IOMEM_BASE + 0x100, 4, 0xcafef00d), 0);
	assert_int_equal(ops->save(td, buf, len - 1), -ENOSPC);
	assert_int_equal(ops->save(td, buf, len + 1), (int)len);

	ops->reset(td);
	assert_int_equal(bus_get(&pio, 0xe0, 4), 0);
	assert_int_equal(bus_get(&mmio, PC_TESTDEV_IOMEM_BASE + 0x100, 4), 0);

	assert_int_equal(ops->load(td, buf, len), 0);
	assert_int_equal(bus_get(&pio, 0xe0, 4), 0xdeadbeef);
	assert_int_equal(bus_get(&mmio, PC_TESTDEV_IOMEM_BASE + 0x100, 4), 0xcafef00d);

	/* Cut short, a byte too many, a scratch value wider than the register: refused, and
	 * the device keeps what it had. */
	assert_int_equal(ops->load(td, buf, len - 1), -EINVAL);
	assert_int_equal(ops->load(td, buf, len + 1), -EINVAL);
	le64_put(buf, 0x100000000ULL);
	buf[8 + 0x100] = 0;
	err_clear();
	assert_int_equal(ops->load(td, buf, len), -EINVAL);
	assert_err_mentions("32-bit");
	assert_int_equal(bus_get(&pio, 0xe0, 4), 0xdeadbeef);
	assert_int_equal(bus_get(&mmio, PC_TESTDEV_IOMEM_BASE + 0x100, 4), 0xcafef00d);
	free(buf);
}

/* --- pci-testdev ----------------------------------------------------------------------- */

static uint32_t config_read(unsigned reg, unsigned size)
{
	assert_int_equal(bus_put(&pio, PCI_CONFIG_PORT, 4,
				 (1U << 31) | TESTDEV_SLOT << 11 | (reg & 0xfc)), 0);
	return (uint32_t)bus_get(&pio, PCI_CONFIG_PORT + 4 + (reg & 3), size);
}

static void config_write(unsigned reg, unsigned size, uint32_t v)
{
	assert_int_equal(bus_put(&pio, PCI_CONFIG_PORT, 4,
				 (1U << 31) | TESTDEV_SLOT << 11 | (reg & 0xfc)), 0);
	assert_int_equal(bus_put(&pio, PCI_CONFIG_PORT + 4 + (reg & 3), size, v), 0);
}

static void test_pci_identity_and_bars(void **state)
{
	(void)state;
	assert_int_equal(config_read(PCI_VENDOR_ID, 2), 0x1b36);
	assert_int_equal(config_read(PCI_DEVICE_ID, 2), 0x0005);
	assert_int_equal(config_read(PCI_CLASS_REVISION, 4), 0x00ff0000);
	assert_int_equal(config_read(PCI_INTERRUPT_PIN, 1), 0);
	assert_int_equal(config_read(PCI_BAR0, 4), PCI_MMIO_WINDOW_BASE);
	assert_int_equal(config_read(PCI_BAR0 + 4, 4), PCI_IO_WINDOW_BASE | PCI_BAR_IO);
	/* Sizing: 4 KiB of memory, 256 ports. */
	config_write(PCI_BAR0, 4, UINT32_MAX);
	assert_int_equal(config_read(PCI_BAR0, 4), 0xfffff000);
	config_write(PCI_BAR0, 4, PCI_MMIO_WINDOW_BASE);
	config_write(PCI_BAR0 + 4, 4, UINT32_MAX);
	assert_int_equal(config_read(PCI_BAR0 + 4, 4), 0xffffff01);
	config_write(PCI_BAR0 + 4, 4, PCI_IO_WINDOW_BASE);
	/* Until the guest turns decoding on, nothing answers there. */
	assert_int_equal(bus_get(&mmio, PCI_MMIO_WINDOW_BASE, 1), -1);
	assert_int_equal(bus_get(&pio, PCI_IO_WINDOW_BASE, 1), -1);
	config_write(PCI_COMMAND, 2, PCI_COMMAND_IO);
	assert_int_equal(bus_get(&pio, PCI_IO_WINDOW_BASE, 1), 0);
	assert_int_equal(bus_get(&mmio, PCI_MMIO_WINDOW_BASE, 1), -1);
	config_write(PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	assert_int_equal(bus_get(&mmio, PCI_MMIO_WINDOW_BASE, 4), 0);
	/* Past the BARs' ends. */
	assert_int_equal(bus_get(&pio, PCI_IO_WINDOW_BASE + PCI_TESTDEV_IO_SIZE, 1), -1);
	assert_int_equal(bus_get(&mmio, PCI_MMIO_WINDOW_BASE + PCI_TESTDEV_MEM_SIZE, 1), -1);
}

/* One test as lib/pci-testdev.c runs it, through the BAR at base on bus b: 16 writes of the
 * test's data to its address, of which QEMU counts want (the eventfd tests count none). */
static void walk_test(const struct bus *b, uint64_t base, unsigned n, const char *name,
		      uint32_t offset, uint8_t data, unsigned want)
{
	char got[32];
	unsigned i;

	assert_int_equal(bus_put(b, base + PCI_TESTDEV_HDR_TEST, 1, n), 0);
	assert_int_equal(bus_get(b, base + PCI_TESTDEV_HDR_COUNT, 4), 0);
	assert_int_equal(bus_get(b, base + PCI_TESTDEV_HDR_WIDTH, 1), 1);
	assert_int_equal(bus_get(b, base + PCI_TESTDEV_HDR_DATA, 4), data);
	assert_int_equal(bus_get(b, base + PCI_TESTDEV_HDR_OFFSET, 4), offset);
	for (i = 0; i < sizeof(got) - 1; i++) {
		got[i] = (char)bus_get(b, base + PCI_TESTDEV_HDR_NAME + i, 1);
		if (got[i] == '\0')
			break;
	}
	got[i] = '\0';
	assert_string_equal(got, name);
	for (i = 0; i < 16; i++)
		assert_int_equal(bus_put(b, base + offset, 1, data), 0);
	assert_int_equal(bus_get(b, base + PCI_TESTDEV_HDR_COUNT, 4), want);
}

static void test_pci_test_tables_and_counts(void **state)
{
	const uint64_t mem_bar = PCI_MMIO_WINDOW_BASE, io_bar = PCI_IO_WINDOW_BASE;

	(void)state;
	config_write(PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	walk_test(&mmio, mem_bar, 0, "mmio-no-eventfd", 2048, 0xfa, 16);
	walk_test(&mmio, mem_bar, 1, "mmio-wildcard-eventfd", 2049, 0xce, 0);
	walk_test(&mmio, mem_bar, 2, "mmio-datamatch-eventfd", 2050, 0xfa, 0);
	walk_test(&pio, io_bar, 0, "portio-no-eventfd", 131, 0xfa, 16);
	walk_test(&pio, io_bar, 1, "portio-wildcard-eventfd", 132, 0xce, 0);
	walk_test(&pio, io_bar, 2, "portio-datamatch-eventfd", 133, 0xfa, 0);
	/* The walk ends where no test is: everything reads 0. */
	assert_int_equal(bus_put(&pio, io_bar, 1, 3), 0);
	assert_int_equal(bus_get(&pio, io_bar + PCI_TESTDEV_HDR_COUNT, 4), 0);
	assert_int_equal(bus_get(&pio, io_bar + PCI_TESTDEV_HDR_WIDTH, 1), 0);
	assert_int_equal(bus_get(&mmio, mem_bar + PCI_TESTDEV_HDR_TEST, 4), 0);

	/* What the eventfd does not take reaches the count, a byte at a time as QEMU splits a
	 * write: data that does not match counts only for the wildcard test, and of a wider
	 * write the byte at the address decides. */
	assert_int_equal(bus_put(&mmio, mem_bar, 1, 2), 0);
	assert_int_equal(bus_get(&mmio, mem_bar + PCI_TESTDEV_HDR_TEST, 1), 2);
	assert_int_equal(bus_put(&mmio, mem_bar + 2050, 1, 0x11), 0);
	assert_int_equal(bus_put(&mmio, mem_bar + 2049, 1, 0xfa), 0);
	assert_int_equal(bus_get(&mmio, mem_bar + PCI_TESTDEV_HDR_COUNT, 4), 0);
	assert_int_equal(bus_put(&mmio, mem_bar + 2050, 2, 0x33fa), 0);
	assert_int_equal(bus_get(&mmio, mem_bar + PCI_TESTDEV_HDR_COUNT, 4), 1);
	assert_int_equal(bus_put(&mmio, mem_bar + 2050, 2, 0x33fb), 0);
	assert_int_equal(bus_get(&mmio, mem_bar + PCI_TESTDEV_HDR_COUNT, 4), 1);
	assert_int_equal(bus_put(&mmio, mem_bar, 1, 1), 0);
	assert_int_equal(bus_put(&mmio, mem_bar + 2049, 1, 0x55), 0);	/* the eventfd's */
	assert_int_equal(bus_put(&mmio, mem_bar + 2049, 4, 0x12345678), 0);
	assert_int_equal(bus_put(&mmio, mem_bar + 2048, 2, 0x5500), 0);
	assert_int_equal(bus_get(&mmio, mem_bar + PCI_TESTDEV_HDR_COUNT, 4), 2);
	/* The eventfd sits in the test's own BAR: the same write through the other one counts. */
	assert_int_equal(bus_put(&pio, io_bar, 1, 2), 0);
	assert_int_equal(bus_put(&pio, io_bar + 133, 1, 0xfa), 0);
	assert_int_equal(bus_put(&mmio, mem_bar + 133, 1, 0xfa), 0);
	assert_int_equal(bus_get(&pio, io_bar + PCI_TESTDEV_HDR_COUNT, 4), 1);
	/* Reselecting a test zeroes its count. */
	assert_int_equal(bus_put(&mmio, mem_bar, 1, 1), 0);
	assert_int_equal(bus_get(&mmio, mem_bar + PCI_TESTDEV_HDR_COUNT, 4), 0);
}

static void test_pci_testdev_save_load(void **state)
{
	const struct pci_device_ops *ops = ptd.pci.ops;
	uint8_t buf[256];
	struct state_buf s;
	int len;

	(void)state;
	config_write(PCI_COMMAND, 2, PCI_COMMAND_IO);
	assert_int_equal(bus_put(&pio, PCI_IO_WINDOW_BASE, 1, 0), 0);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(bus_put(&pio, PCI_IO_WINDOW_BASE + 131, 1, 0xfa), 0);
	state_writer(&s, buf, sizeof(buf));
	assert_int_equal(ops->save(&ptd.pci, &s), 0);
	len = state_saved(&s);
	assert_true(len > 0);

	ops->reset(&ptd.pci);
	assert_int_equal(bus_get(&pio, PCI_IO_WINDOW_BASE + PCI_TESTDEV_HDR_COUNT, 4), 0);
	assert_int_equal(bus_get(&pio, PCI_IO_WINDOW_BASE + PCI_TESTDEV_HDR_TEST, 1), 0);

	state_reader(&s, buf, (size_t)len);
	assert_int_equal(ops->load(&ptd.pci, &s), 0);
	assert_int_equal(state_loaded(&s, "pci-testdev"), 0);
	assert_int_equal(bus_get(&pio, PCI_IO_WINDOW_BASE + PCI_TESTDEV_HDR_TEST, 1), 3);
	assert_int_equal(bus_get(&pio, PCI_IO_WINDOW_BASE + PCI_TESTDEV_HDR_COUNT, 4), 5);

	/* A test that does not exist, a count past 32 bits, a cut: refused, nothing changed. */
	buf[0] = 6;
	state_reader(&s, buf, (size_t)len);
	assert_int_equal(ops->load(&ptd.pci, &s), -EINVAL);
	buf[0] = 3;
	le64_put(buf + 1 + 8 * 3, 1ULL << 32);
	state_reader(&s, buf, (size_t)len);
	assert_int_equal(ops->load(&ptd.pci, &s), -EINVAL);
	state_reader(&s, buf, (size_t)len - 1);
	assert_int_equal(ops->load(&ptd.pci, &s), -EINVAL);
	assert_int_equal(bus_get(&pio, PCI_IO_WINDOW_BASE + PCI_TESTDEV_HDR_COUNT, 4), 5);
}

#define TESTDEV_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TESTDEV_TEST(test_scratch_at_each_size),
		TESTDEV_TEST(test_refused_port_accesses),
		TESTDEV_TEST(test_irq_block),
		TESTDEV_TEST(test_irq_block_wide_writes),
		TESTDEV_TEST(test_iomem_is_storage),
		TESTDEV_TEST(test_page_flush_keeps_the_page),
		TESTDEV_TEST(test_pc_testdev_save_load_reset),
		TESTDEV_TEST(test_pci_identity_and_bars),
		TESTDEV_TEST(test_pci_test_tables_and_counts),
		TESTDEV_TEST(test_pci_testdev_save_load),
	};
	return cmocka_run_group_tests_name("testdev", tests, NULL, NULL);
}
