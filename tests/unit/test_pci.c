/* PCI configuration mechanism #1 and the configuration space model, through the port handlers
 * as a guest reaches them. */
#include <errno.h>

#include "hopvm/bus.h"
#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/pci.h"
#include "unit.h"

static struct pci_bus pci;
static struct pci_device bridge, disk;
static struct bus pio;

static int setup(void **state)
{
	(void)state;
	pci_bus_init(&pci);
	bus_init(&pio, "pio");
	pci_device_init(&bridge, "host-bridge", 0x1b36, 0x0008, 0x060000, 1);
	pci_device_init(&disk, "disk", 0x1af4, 0x1042, 0x018000, 1);
	assert_int_equal(pci_device_set_bar(&disk, 0, 0x4000, 0), 0);
	assert_int_equal(pci_device_set_bar(&disk, 1, 0x40, PCI_BAR_IO), 0);
	assert_int_equal(pci_bus_add(&pci, 0, &bridge), 0);
	assert_int_equal(pci_bus_add(&pci, 3, &disk), 0);
	assert_int_equal(bus_register(&pio, PCI_CONFIG_PORT, PCI_CONFIG_NR_PORTS, &pci_config_ops,
				      &pci), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bus_free(&pio);
	return 0;
}

static void select_reg(unsigned slot, unsigned function, unsigned reg)
{
	uint8_t a[4];

	le32_put(a, (1U << 31) | slot << 11 | function << 8 | reg);
	assert_int_equal(bus_write(&pio, PCI_CONFIG_PORT, a, 4), 0);
}

static uint32_t data_read(unsigned byte, unsigned size)
{
	uint8_t d[4] = { 0 };

	assert_int_equal(bus_read(&pio, PCI_CONFIG_PORT + 4 + byte, d, size), 0);
	return le32_get(d) & (size == 4 ? UINT32_MAX : (1U << (8 * size)) - 1);
}

static void data_write(unsigned byte, unsigned size, uint32_t v)
{
	uint8_t d[4];

	le32_put(d, v);
	assert_int_equal(bus_write(&pio, PCI_CONFIG_PORT + 4 + byte, d, size), 0);
}

static void test_ids_at_every_size(void **state)
{
	(void)state;
	select_reg(3, 0, PCI_VENDOR_ID);
	assert_int_equal(data_read(0, 4), 0x10421af4);
	assert_int_equal(data_read(0, 2), 0x1af4);
	assert_int_equal(data_read(2, 2), 0x1042);
	assert_int_equal(data_read(1, 1), 0x1a);
	select_reg(3, 0, PCI_CLASS_REVISION);
	assert_int_equal(data_read(0, 4), 0x01800001);
	select_reg(0, 0, PCI_CLASS_REVISION);
	assert_int_equal(data_read(2, 2), 0x0600);	/* a host bridge */
}

static void test_empty_slots_and_functions_read_all_ones(void **state)
{
	(void)state;
	select_reg(5, 0, PCI_VENDOR_ID);
	assert_int_equal(data_read(0, 4), UINT32_MAX);
	select_reg(3, 1, PCI_VENDOR_ID);	/* function 1 */
	assert_int_equal(data_read(0, 2), 0xffff);
	data_write(0, 4, 0);	/* dropped */
	select_reg(3, 0, PCI_VENDOR_ID);
	assert_int_equal(data_read(0, 4), 0x10421af4);
}

static void test_disabled_or_other_bus(void **state)
{
	uint8_t a[4];

	(void)state;
	le32_put(a, 3 << 11);	/* enable bit clear */
	assert_int_equal(bus_write(&pio, PCI_CONFIG_PORT, a, 4), 0);
	assert_int_equal(data_read(0, 4), UINT32_MAX);
	le32_put(a, (1U << 31) | 1 << 16 | 3 << 11);	/* bus 1 */
	assert_int_equal(bus_write(&pio, PCI_CONFIG_PORT, a, 4), 0);
	assert_int_equal(data_read(0, 4), UINT32_MAX);
}

static void test_address_register(void **state)
{
	uint8_t a[4] = { 0 };

	(void)state;
	select_reg(3, 0, 0x13);	/* the low two bits are not part of the address */
	assert_int_equal(bus_read(&pio, PCI_CONFIG_PORT, a, 4), 0);
	assert_int_equal(le32_get(a), (1U << 31) | 3 << 11 | 0x10);
	/* Only whole dwords reach it: a byte at 0xcf9 reads all-ones, a byte written at 0xcfb
	 * (Linux's type-1 probe) changes nothing. */
	assert_int_equal(bus_read(&pio, PCI_CONFIG_PORT + 1, a, 1), 0);
	assert_int_equal(a[0], 0xff);
	a[0] = 0x01;
	assert_int_equal(bus_write(&pio, PCI_CONFIG_PORT + 3, a, 1), 0);
	assert_int_equal(bus_read(&pio, PCI_CONFIG_PORT, a, 4), 0);
	assert_int_equal(le32_get(a), (1U << 31) | 3 << 11 | 0x10);
	/* A data access that runs past 0xcff is the bus's to refuse. */
	assert_int_equal(bus_read(&pio, PCI_CONFIG_PORT + 6, a, 4), -ENODEV);
}

static void test_read_only_fields_stay(void **state)
{
	(void)state;
	select_reg(3, 0, PCI_VENDOR_ID);
	data_write(0, 4, 0x12345678);
	assert_int_equal(data_read(0, 4), 0x10421af4);
	select_reg(3, 0, PCI_COMMAND);
	data_write(0, 2, 0xffff);
	assert_int_equal(data_read(0, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			 PCI_COMMAND_INTX_DISABLE);
	select_reg(3, 0, PCI_INTERRUPT_LINE);
	data_write(0, 1, 11);
	data_write(1, 1, 4);	/* the pin is the device's */
	assert_int_equal(data_read(0, 2), 11);
}

static void test_bar_sizing(void **state)
{
	(void)state;
	select_reg(3, 0, PCI_BAR0);
	data_write(0, 4, UINT32_MAX);
	assert_int_equal(data_read(0, 4), 0xffffc000);	/* 16 KiB of 32-bit memory */
	data_write(0, 4, 0xe0001234);
	assert_int_equal(data_read(0, 4), 0xe0000000);
	assert_int_equal(pci_device_bar_address(&disk, 0), 0xe0000000);
	select_reg(3, 0, PCI_BAR0 + 4);
	data_write(0, 4, UINT32_MAX);
	assert_int_equal(data_read(0, 4), 0xffffffc1);	/* 64 ports of I/O */
	data_write(0, 4, 0xc040);
	assert_int_equal(pci_device_bar_address(&disk, 1), 0xc040);
	select_reg(3, 0, PCI_BAR0 + 8);	/* no BAR 2: stays zero */
	data_write(0, 4, UINT32_MAX);
	assert_int_equal(data_read(0, 4), 0);
}

static void test_bad_bars_and_slots(void **state)
{
	struct pci_device other;

	(void)state;
	pci_device_init(&other, "other", 0x1af4, 0x1044, 0x00ff00, 1);
	assert_int_equal(pci_device_set_bar(&other, 0, 0x3000, 0), -EINVAL);
	assert_err_mentions("not a power of two");
	assert_int_equal(pci_device_set_bar(&other, 0, 8, 0), -EINVAL);
	assert_int_equal(pci_device_set_bar(&other, 6, 0x1000, 0), -EINVAL);
	assert_int_equal(pci_bus_add(&pci, 3, &other), -EEXIST);
	assert_err_mentions("holds disk already");
	assert_int_equal(pci_bus_add(&pci, 32, &other), -EINVAL);
}

static void test_bars_placed_in_the_window(void **state)
{
	(void)state;
	/* pci_bus_add placed the memory BAR, aligned to its size, in the MMIO window. */
	assert_int_equal(pci_device_bar_address(&disk, 0), PCI_MMIO_WINDOW_BASE);
	assert_int_equal(pci_bus_free_slot(&pci), 1);
}

static int refusing_read(struct pci_device *dev, unsigned n, uint64_t offset, uint8_t *data,
			 unsigned size)
{
	(void)dev, (void)n, (void)offset, (void)data, (void)size;
	return err_set(-EINVAL, "no register there");
}

static int refusing_write(struct pci_device *dev, unsigned n, uint64_t offset,
			  const uint8_t *data, unsigned size)
{
	(void)dev, (void)n, (void)offset, (void)data, (void)size;
	return -EINVAL;
}

/* A BAR's refusal, seen through the window, names the device behind it. */
static void test_window_refusals_name_the_device(void **state)
{
	static const struct pci_device_ops refusing = { .bar_read = refusing_read,
							.bar_write = refusing_write };
	uint8_t b[4] = { 0 };

	(void)state;
	disk.ops = &refusing;
	select_reg(3, 0, PCI_COMMAND);
	data_write(0, 2, PCI_COMMAND_MEMORY);
	err_clear();
	assert_int_equal(pci_mmio_window_ops.read(&pci, 0x10, b, 4), -EINVAL);
	assert_string_equal(err_msg(), "disk, BAR 0 offset 0x10: no register there");
	err_clear();
	assert_int_equal(pci_mmio_window_ops.write(&pci, 0x3, b, 1), -EINVAL);
	assert_string_equal(err_msg(), "disk, BAR 0 offset 0x3");
	/* Past the BAR nothing answers, and nothing is said. */
	err_clear();
	assert_int_equal(pci_mmio_window_ops.read(&pci, 0x4000, b, 4), -ENODEV);
	assert_string_equal(err_msg(), "");
	disk.ops = NULL;
}

static void test_capability_list(void **state)
{
	struct pci_device dev;

	(void)state;
	pci_device_init(&dev, "caps", 0x1af4, 0x1041, 0x020000, 1);
	assert_int_equal(pci_device_add_cap(&dev, PCI_CAP_ID_MSIX, 12), PCI_CAP_FIRST);
	assert_int_equal(pci_device_add_cap(&dev, PCI_CAP_ID_VENDOR, 17), PCI_CAP_FIRST + 12);
	assert_int_equal(pci_device_add_cap(&dev, PCI_CAP_ID_VENDOR, 16), PCI_CAP_FIRST + 32);
	assert_true(dev.config[PCI_STATUS] & PCI_STATUS_CAP_LIST);
	assert_int_equal(dev.config[PCI_CAPABILITY_LIST], PCI_CAP_FIRST);
	assert_int_equal(dev.config[PCI_CAP_FIRST + 1], PCI_CAP_FIRST + 12);
	assert_int_equal(dev.config[PCI_CAP_FIRST + 13], PCI_CAP_FIRST + 32);
	assert_int_equal(dev.config[PCI_CAP_FIRST + 33], 0);
	assert_int_equal(pci_device_add_cap(&dev, PCI_CAP_ID_VENDOR, 200), -ENOSPC);
}

static void test_save_load(void **state)
{
	const struct bus_range *r = bus_find(&pio, PCI_CONFIG_PORT);
	uint8_t buf[4096];
	int len;

	(void)state;
	select_reg(3, 0, PCI_COMMAND);
	data_write(0, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	len = r->ops->save(r->dev, buf, sizeof(buf));
	assert_true(len > 0);
	data_write(0, 2, 0);
	assert_int_equal(r->ops->load(r->dev, buf, (size_t)len), 0);
	select_reg(3, 0, PCI_COMMAND);
	assert_int_equal(data_read(0, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	/* A read-only byte that differs (another device ID), a cut, a byte too many. */
	buf[8 + 1 + 8 + 256 + 1 + 8 + PCI_DEVICE_ID] ^= 1;
	assert_int_equal(r->ops->load(r->dev, buf, (size_t)len), -EINVAL);
	buf[8 + 1 + 8 + 256 + 1 + 8 + PCI_DEVICE_ID] ^= 1;
	assert_int_equal(r->ops->load(r->dev, buf, (size_t)len - 1), -EINVAL);
	assert_int_equal(r->ops->load(r->dev, buf, (size_t)len + 1), -EINVAL);
	/* A latch with reserved bits set. */
	buf[0] = 3;
	assert_int_equal(r->ops->load(r->dev, buf, (size_t)len), -EINVAL);
}

#define PCI_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		PCI_TEST(test_ids_at_every_size),
		PCI_TEST(test_empty_slots_and_functions_read_all_ones),
		PCI_TEST(test_disabled_or_other_bus),
		PCI_TEST(test_address_register),
		PCI_TEST(test_read_only_fields_stay),
		PCI_TEST(test_bar_sizing),
		PCI_TEST(test_bad_bars_and_slots),
		PCI_TEST(test_bars_placed_in_the_window),
		PCI_TEST(test_window_refusals_name_the_device),
		PCI_TEST(test_capability_list),
		PCI_TEST(test_save_load),
	};
	return cmocka_run_group_tests_name("pci", tests, NULL, NULL);
}
