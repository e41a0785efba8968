#include <errno.h>

#include "hopvm/i8042.h"
#include "unit.h"

enum { DATA = 0, COMMAND = 4 };

#define OBF 0x01
#define AUX_DATA 0x20

struct host {
	struct i8042 *kbd;
	int irq_level;
	int irq_edges;
	int resets;
};

static void host_irq(void *ctx, int level)
{
	struct host *h = ctx;

	assert_int_not_equal(level, h->irq_level);	/* every rise is followed by a fall */
	h->irq_level = level;
	h->irq_edges += level;
}

/* Resets the controller, as the VM restarting the guest would: this deadlocks unless the
 * callback runs outside the controller's lock. */
static void host_reset_cpu(void *ctx)
{
	struct host *h = ctx;

	h->resets++;
	i8042_reset(h->kbd);
}

static uint8_t rd(struct i8042 *k, unsigned port)
{
	uint8_t v = 0;

	assert_int_equal(i8042_read(k, port, &v, 1), 0);
	return v;
}

static void wr(struct i8042 *k, unsigned port, uint8_t v)
{
	assert_int_equal(i8042_write(k, port, &v, 1), 0);
}

/* Reads bytes as Linux does, waiting for OBF before each, then checks the buffer is empty. */
static void expect(struct i8042 *k, const uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_true(rd(k, COMMAND) & OBF);
		assert_int_equal(rd(k, DATA), bytes[i]);
	}
	assert_false(rd(k, COMMAND) & OBF);
}

#define EXPECT(k, ...)                                                                     \
	do {                                                                               \
		const uint8_t bytes_[] = { __VA_ARGS__ };                                  \
		expect((k), bytes_, sizeof(bytes_));                                       \
	} while (0)

static int setup(void **state)
{
	static struct i8042 kbd;
	static struct host host;

	memset(&host, 0, sizeof(host));
	host.kbd = &kbd;
	i8042_init(&kbd, host_irq, host_reset_cpu, &host);
	state[0] = &kbd;
	return 0;
}

static int teardown(void **state)
{
	i8042_destroy(state[0]);
	return 0;
}

static struct host *host_of(struct i8042 *k)
{
	return k->ctx;
}

/* i8042_controller_check, _selftest, _init and i8042_check_aux of Linux 6.1, in order. */
static void test_linux_probe(void **state)
{
	struct i8042 *k = state[0];
	int flushed = 0;

	assert_int_equal(rd(k, COMMAND), 0x14);	/* keylock open, system flag, empty */
	wr(k, DATA, 0xf2);	/* something to flush */
	while (rd(k, COMMAND) & OBF) {
		rd(k, DATA);
		flushed++;
	}
	assert_int_equal(flushed, 3);

	wr(k, COMMAND, 0xaa);
	assert_int_equal(rd(k, COMMAND) & 0x08, 0x08);	/* the last write was a command */
	EXPECT(k, 0x55);
	wr(k, COMMAND, 0x20);
	EXPECT(k, 0x65);
	wr(k, COMMAND, 0x20);
	EXPECT(k, 0x65);
	wr(k, COMMAND, 0x60);
	wr(k, DATA, 0x74);	/* keyboard disabled, its interrupt off */
	wr(k, COMMAND, 0x20);
	EXPECT(k, 0x74);

	host_of(k)->irq_edges = 0;
	wr(k, COMMAND, 0xd3);
	wr(k, DATA, 0x5a);
	assert_int_equal(rd(k, COMMAND) & (OBF | AUX_DATA), OBF);	/* Linux stops here */
	wr(k, COMMAND, 0xa9);
	EXPECT(k, 0x02);	/* not the abandoned 0x5a */
	assert_int_equal(host_of(k)->irq_edges, 0);
}

static void test_keyboard_as_atkbd_drives_it(void **state)
{
	struct i8042 *k = state[0];
	struct host *h = host_of(k);

	wr(k, DATA, 0xff);
	assert_int_equal(h->irq_edges, 1);
	assert_int_equal(rd(k, DATA), 0xfa);
	assert_int_equal(h->irq_edges, 2);	/* the next byte reached the head */
	assert_int_equal(rd(k, DATA), 0xaa);
	assert_int_equal(h->irq_edges, 2);
	assert_int_equal(rd(k, DATA), 0xaa);	/* an empty buffer reads its last byte again */
	assert_int_equal(h->irq_edges, 2);

	wr(k, DATA, 0xf2);
	EXPECT(k, 0xfa, 0xab, 0x83);
	wr(k, DATA, 0xed);
	wr(k, DATA, 0x02);
	EXPECT(k, 0xfa, 0xfa);
	wr(k, DATA, 0xf3);
	wr(k, DATA, 0x20);
	EXPECT(k, 0xfa, 0xfa);
	wr(k, DATA, 0xf0);
	wr(k, DATA, 0x00);
	EXPECT(k, 0xfa, 0xfa, 0x02);
	wr(k, DATA, 0xf0);
	wr(k, DATA, 0x01);
	wr(k, DATA, 0xf0);
	wr(k, DATA, 0x00);
	EXPECT(k, 0xfa, 0xfa, 0xfa, 0xfa, 0x01);
	wr(k, DATA, 0xee);
	EXPECT(k, 0xee);
	wr(k, DATA, 0xf4);
	EXPECT(k, 0xfa);
	assert_int_equal(h->irq_edges, 2 + 3 + 2 + 2 + 3 + 5 + 1 + 1);
}

static void test_interrupt_enable(void **state)
{
	struct i8042 *k = state[0];
	struct host *h = host_of(k);

	wr(k, COMMAND, 0x60);
	wr(k, DATA, 0x64);
	wr(k, DATA, 0xff);
	assert_int_equal(h->irq_edges, 0);
	wr(k, COMMAND, 0x60);
	wr(k, DATA, 0x65);
	assert_int_equal(h->irq_edges, 1);	/* enabled over a waiting byte */
	EXPECT(k, 0xfa, 0xaa);
	assert_int_equal(h->irq_edges, 2);

	wr(k, COMMAND, 0xd2);
	wr(k, DATA, 0x1c);
	assert_int_equal(h->irq_edges, 3);
	EXPECT(k, 0x1c);
}

static void test_controller_commands(void **state)
{
	struct i8042 *k = state[0];

	wr(k, COMMAND, 0xad);
	wr(k, COMMAND, 0xa8);
	wr(k, COMMAND, 0x20);
	EXPECT(k, 0x55);	/* keyboard disabled, aux enabled */
	wr(k, COMMAND, 0xae);
	wr(k, COMMAND, 0xa7);
	wr(k, COMMAND, 0x20);
	EXPECT(k, 0x65);
	wr(k, COMMAND, 0xab);
	EXPECT(k, 0x00);
	wr(k, COMMAND, 0xd4);
	wr(k, DATA, 0xf4);
	assert_false(rd(k, COMMAND) & OBF);	/* no mouse to answer */
	wr(k, COMMAND, 0xc0);	/* unknown: ignored, and the next byte goes to the keyboard */
	wr(k, DATA, 0xf5);
	EXPECT(k, 0xfa);
	assert_int_equal(host_of(k)->resets, 0);
}

static void test_cpu_reset(void **state)
{
	struct i8042 *k = state[0];
	struct host *h = host_of(k);

	wr(k, COMMAND, 0xff);	/* pulses no line */
	assert_int_equal(h->resets, 0);
	wr(k, COMMAND, 0xfe);	/* Linux's reboot=k */
	assert_int_equal(h->resets, 1);

	wr(k, COMMAND, 0xd0);
	EXPECT(k, 0x03);	/* reset line high, A20 on */
	wr(k, COMMAND, 0xd1);
	wr(k, DATA, 0xdf);
	assert_int_equal(h->resets, 1);
	wr(k, COMMAND, 0xd0);
	EXPECT(k, 0xdf);
	wr(k, COMMAND, 0xd1);
	wr(k, DATA, 0x02);
	assert_int_equal(h->resets, 2);
	wr(k, COMMAND, 0xd0);
	EXPECT(k, 0x03);	/* the callback reset the controller */
}

static void test_refused_overflow_and_reset(void **state)
{
	struct i8042 *k = state[0];
	const uint8_t identify[3] = { 0xfa, 0xab, 0x83 };
	uint8_t wide[4] = { 0 };

	for (unsigned offset = 1; offset <= 3; offset++) {
		assert_int_equal(i8042_read(k, offset, wide, 1), -EINVAL);
		assert_int_equal(i8042_write(k, offset, wide, 1), -EINVAL);
	}
	assert_int_equal(i8042_read(k, 5, wide, 1), -EINVAL);
	assert_int_equal(i8042_read(k, DATA, wide, 2), -EINVAL);
	assert_int_equal(i8042_write(k, COMMAND, wide, 4), -EINVAL);

	for (int i = 0; i < 6; i++)
		wr(k, DATA, 0xf2);
	for (int i = 0; i < I8042_BUFFER_SIZE; i++)
		assert_int_equal(rd(k, DATA), identify[i % 3]);
	assert_false(rd(k, COMMAND) & OBF);	/* the last two were lost */

	wr(k, COMMAND, 0x60);
	wr(k, DATA, 0x00);
	wr(k, DATA, 0xff);
	i8042_reset(k);
	assert_int_equal(rd(k, COMMAND), 0x14);
	wr(k, COMMAND, 0x20);
	EXPECT(k, 0x65);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_linux_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyboard_as_atkbd_drives_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_controller_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_overflow_and_reset, setup, teardown),
	};
	return cmocka_run_group_tests_name("i8042", tests, NULL, NULL);
}
