/* Device save and load for migration: a device loaded from another's saved state behaves as
 * that device would have, and a state no device could have been in is refused untouched. */
#include <errno.h>

#include "hopvm/error.h"
#include "hopvm/i8042.h"
#include "hopvm/rtc_cmos.h"
#include "hopvm/uart_16550.h"
#include "unit.h"

#define STATE_MAX 512

static time_t fixed_now(void *ctx)
{
	(void)ctx;
	return 1795873507;	/* 2026-11-28 13:45:07 UTC */
}

static void wr(const struct device_ops *ops, void *dev, uint64_t off, uint8_t v)
{
	assert_int_equal(ops->write(dev, off, &v, 1), 0);
}

static uint8_t rd(const struct device_ops *ops, void *dev, uint64_t off)
{
	uint8_t v = 0;

	assert_int_equal(ops->read(dev, off, &v, 1), 0);
	return v;
}

/* Saves from, loads into to, and checks to saves the very same bytes. */
static int move_state(const struct device_ops *ops, void *from, void *to, uint8_t *saved)
{
	uint8_t again[STATE_MAX];
	int len = ops->save(from, saved, STATE_MAX);

	assert_true(len > 0);
	assert_int_equal(ops->load(to, saved, (size_t)len), 0);
	assert_int_equal(ops->save(to, again, sizeof(again)), len);
	assert_memory_equal(saved, again, (size_t)len);
	return len;
}

/* Every shorter and one longer state is refused, and so is each corrupt one given; the
 * device is unchanged after each refusal. */
static void expect_refusals(const struct device_ops *ops, void *dev, const uint8_t *good,
			    int len, const int *bad_offsets, const uint8_t *bad_values, size_t nbad)
{
	uint8_t before[STATE_MAX], after[STATE_MAX], bad[STATE_MAX + 1];

	assert_int_equal(ops->save(dev, before, sizeof(before)), len);
	for (int cut = 0; cut < len; cut++)
		assert_int_equal(ops->load(dev, good, (size_t)cut), -EINVAL);
	memcpy(bad, good, (size_t)len);
	bad[len] = 0;
	assert_int_equal(ops->load(dev, bad, (size_t)len + 1), -EINVAL);
	assert_err_mentions("left over");
	for (size_t i = 0; i < nbad; i++) {
		memcpy(bad, good, (size_t)len);
		bad[bad_offsets[i]] = bad_values[i];
		assert_int_equal(ops->load(dev, bad, (size_t)len), -EINVAL);
		assert_err_mentions(ops->name);
	}
	assert_int_equal(ops->save(dev, after, sizeof(after)), len);
	assert_memory_equal(before, after, (size_t)len);
	assert_int_equal(ops->save(dev, after, (size_t)len - 1), -ENOSPC);
}

static void test_uart_moves(void **state)
{
	struct uart_16550 a, b;
	uint8_t saved[STATE_MAX];
	const int bad_at[] = { 0, 2, 4, 7, 24, 25, 26 };
	const uint8_t bad_val[] = { 0x10, 0x20, 0x02, 2, 16, 17, 2 };
	int len;

	(void)state;
	uart_16550_init(&a, NULL, NULL, NULL);
	uart_16550_init(&b, NULL, NULL, NULL);
	wr(&uart_16550_ops, &a, 3, 0x03);	/* 8N1 */
	wr(&uart_16550_ops, &a, 1, 0x01);	/* receive interrupt on */
	wr(&uart_16550_ops, &a, 7, 0x5a);	/* scratch */
	assert_int_equal(uart_16550_receive(&a, (const uint8_t *)"hello", 5), 5);
	assert_int_equal(rd(&uart_16550_ops, &a, 0), 'h');	/* the FIFO's head moves */

	len = move_state(&uart_16550_ops, &a, &b, saved);
	assert_int_equal(rd(&uart_16550_ops, &b, 7), 0x5a);
	assert_int_equal(rd(&uart_16550_ops, &b, 2) & 0x0f, 0x04);	/* data waiting */
	for (const char *p = "ello"; *p; p++)
		assert_int_equal(rd(&uart_16550_ops, &b, 0), *p);
	assert_int_equal(rd(&uart_16550_ops, &b, 5) & 0x01, 0);	/* drained */
	expect_refusals(&uart_16550_ops, &a, saved, len, bad_at, bad_val, 7);
	uart_16550_destroy(&a);
	uart_16550_destroy(&b);
}

static void test_i8042_moves(void **state)
{
	struct i8042 a, b;
	uint8_t saved[STATE_MAX];
	const int bad_at[] = { 2, 3, 4, 5, 22, 23 };
	const uint8_t bad_val[] = { 0x20, 0x55, 4, 2, 16, 17 };
	int len;

	(void)state;
	i8042_init(&a, NULL, NULL, NULL);
	i8042_init(&b, NULL, NULL, NULL);
	wr(&i8042_ops, &a, 0, 0xff);		/* keyboard reset: ACK, self-test OK queued */
	wr(&i8042_ops, &a, 4, 0x60);		/* write CTR: waits for its data byte */

	len = move_state(&i8042_ops, &a, &b, saved);
	assert_int_equal(rd(&i8042_ops, &b, 0), 0xfa);
	assert_int_equal(rd(&i8042_ops, &b, 0), 0xaa);
	wr(&i8042_ops, &b, 0, 0x44);		/* the pending command takes it */
	wr(&i8042_ops, &b, 4, 0x20);
	assert_int_equal(rd(&i8042_ops, &b, 0), 0x44);
	expect_refusals(&i8042_ops, &a, saved, len, bad_at, bad_val, 6);
	i8042_destroy(&a);
	i8042_destroy(&b);
}

static void test_rtc_moves(void **state)
{
	struct rtc_cmos a, b;
	uint8_t saved[STATE_MAX];
	const int bad_at[] = { 0, 1, 137 };
	const uint8_t bad_val[] = { 0x80, 2, 0x40 };
	int len;

	(void)state;
	rtc_cmos_init(&a, fixed_now, NULL);
	rtc_cmos_init(&b, fixed_now, NULL);
	wr(&rtc_cmos_ops, &a, 0, 0x40);		/* CMOS RAM */
	wr(&rtc_cmos_ops, &a, 1, 0x99);
	wr(&rtc_cmos_ops, &a, 0, 0x0b);
	wr(&rtc_cmos_ops, &a, 1, 0x06);		/* binary, 24-hour */
	wr(&rtc_cmos_ops, &a, 0, 0x04);		/* hours selected */

	len = move_state(&rtc_cmos_ops, &a, &b, saved);
	assert_int_equal(rd(&rtc_cmos_ops, &b, 1), 13);
	wr(&rtc_cmos_ops, &b, 0, 0x40);
	assert_int_equal(rd(&rtc_cmos_ops, &b, 1), 0x99);
	/* Byte 137 is the offset's top byte: 0x40... seconds is no century. */
	expect_refusals(&rtc_cmos_ops, &a, saved, len, bad_at, bad_val, 3);
	rtc_cmos_destroy(&a);
	rtc_cmos_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uart_moves),
		cmocka_unit_test(test_i8042_moves),
		cmocka_unit_test(test_rtc_moves),
	};
	return cmocka_run_group_tests_name("device_state", tests, NULL, NULL);
}
