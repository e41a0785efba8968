#include <errno.h>

#include "hopvm/bus.h"
#include "hopvm/error.h"
#include "unit.h"

/* A device that remembers its last access and answers reads with offset + 0x40. */
struct fake_dev {
	uint64_t last_offset;
	unsigned last_size;
	uint8_t last_byte;
	int resets;
};

static int fake_read(void *dev, uint64_t offset, uint8_t *data, unsigned size)
{
	struct fake_dev *f = dev;

	f->last_offset = offset;
	f->last_size = size;
	memset(data, (int)(offset + 0x40), size);
	return 0;
}

static int fake_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size)
{
	struct fake_dev *f = dev;

	f->last_offset = offset;
	f->last_size = size;
	f->last_byte = data[0];
	return 0;
}

static void fake_reset(void *dev)
{
	((struct fake_dev *)dev)->resets++;
}

static const struct device_ops fake_ops = {
	.name = "fake", .read = fake_read, .write = fake_write, .reset = fake_reset,
};
static const struct device_ops write_only_ops = { .name = "write-only", .write = fake_write };

static void test_dispatch_uses_offsets(void **state)
{
	struct fake_dev a = { 0 }, b = { 0 };
	struct bus bus;
	uint8_t data[4], byte = 0x5a;

	(void)state;
	bus_init(&bus, "pio");
	assert_int_equal(bus_register(&bus, 0x3f8, 8, &fake_ops, &a), 0);
	assert_int_equal(bus_register(&bus, 0x60, 1, &fake_ops, &b), 0);
	assert_int_equal(bus_read(&bus, 0x3fd, data, 1), 0);
	assert_int_equal(a.last_offset, 5);
	assert_int_equal(data[0], 0x45);
	assert_int_equal(bus_write(&bus, 0x60, &byte, 1), 0);
	assert_int_equal(b.last_offset, 0);
	assert_int_equal(b.last_byte, 0x5a);
	assert_ptr_equal(bus_find(&bus, 0x3ff)->dev, &a);
	assert_null(bus_find(&bus, 0x400));
	assert_null(bus_find(&bus, 0x3f7));
	bus_reset(&bus);
	assert_int_equal(a.resets + b.resets, 2);
	bus_free(&bus);
}

static void test_unmapped_and_refused_accesses(void **state)
{
	struct fake_dev a = { 0 };
	struct bus bus;
	uint8_t data[4] = { 0 };

	(void)state;
	bus_init(&bus, "pio");
	assert_int_equal(bus_register(&bus, 0x100, 4, &fake_ops, &a), 0);
	assert_int_equal(bus_register(&bus, 0x200, 4, &write_only_ops, &a), 0);
	assert_int_equal(bus_read(&bus, 0x50, data, 2), -ENODEV);
	assert_int_equal(data[0], 0xff);
	assert_int_equal(data[1], 0xff);
	assert_int_equal(bus_write(&bus, 0x50, data, 1), -ENODEV);
	/* An access running past the end of its range is not the device's. */
	memset(data, 0, sizeof(data));
	assert_int_equal(bus_read(&bus, 0x102, data, 4), -ENODEV);
	assert_int_equal(data[3], 0xff);
	assert_int_equal(bus_read(&bus, 0x100, data, 0), -ENODEV);
	/* A device without a read handler refuses reads: all-ones. */
	assert_int_equal(bus_read(&bus, 0x200, data, 1), -EPERM);
	assert_int_equal(data[0], 0xff);
	bus_free(&bus);
}

/* Each device's first refusal is reported, later ones and other devices' are told apart. */
static void test_first_refusal_once_per_device(void **state)
{
	struct fake_dev a = { 0 }, b = { 0 };
	const char *name = NULL;
	struct bus bus;

	(void)state;
	bus_init(&bus, "pio");
	assert_int_equal(bus_register(&bus, 0x3f8, 8, &fake_ops, &a), 0);
	assert_int_equal(bus_register(&bus, 0x60, 5, &write_only_ops, &b), 0);
	assert_false(bus_first_refusal(&bus, 0x100, &name));	/* nothing there */
	assert_null(name);
	assert_true(bus_first_refusal(&bus, 0x3fa, &name));
	assert_string_equal(name, "fake");
	assert_false(bus_first_refusal(&bus, 0x3f8, &name));
	assert_false(bus_first_refusal(&bus, 0x3ff, &name));
	assert_true(bus_first_refusal(&bus, 0x64, &name));
	assert_string_equal(name, "write-only");
	assert_false(bus_first_refusal(&bus, 0x60, &name));
	bus_free(&bus);
}

static void test_registration_refuses_overlaps(void **state)
{
	struct fake_dev a = { 0 };
	struct bus bus;

	(void)state;
	bus_init(&bus, "mmio");
	assert_int_equal(bus_register(&bus, 0x1000, 0x100, &fake_ops, &a), 0);
	assert_int_equal(bus_register(&bus, 0x10ff, 1, &fake_ops, &a), -EEXIST);
	assert_err_mentions("overlaps fake");
	assert_int_equal(bus_register(&bus, 0xf00, 0x101, &fake_ops, &a), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x800, 0x1000, &fake_ops, &a), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x1040, 0x10, &fake_ops, &a), -EEXIST);
	assert_int_equal(bus_register(&bus, 0xf00, 0x100, &fake_ops, &a), 0);	/* touches */
	assert_int_equal(bus_register(&bus, 0x1100, 0x100, &fake_ops, &a), 0);
	assert_int_equal(bus_register(&bus, 0x5000, 0, &fake_ops, &a), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX - 1, 3, &fake_ops, &a), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX - 1, 2, &fake_ops, &a), 0);
	assert_int_equal(bus.nr_ranges, 4);
	for (size_t i = 1; i < bus.nr_ranges; i++)
		assert_true(bus.ranges[i - 1].base < bus.ranges[i].base);
	bus_free(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_uses_offsets),
		cmocka_unit_test(test_unmapped_and_refused_accesses),
		cmocka_unit_test(test_registration_refuses_overlaps),
		cmocka_unit_test(test_first_refusal_once_per_device),
	};
	return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}
