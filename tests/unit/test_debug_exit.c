#include <errno.h>

#include "hopvm/debug_exit.h"
#include "unit.h"

static uint32_t seen_value;
static int seen_calls;

static void on_exit_cb(void *ctx, uint32_t value)
{
	(void)ctx;
	seen_value = value;
	seen_calls++;
}

static void test_widths(void **state)
{
	struct debug_exit dbg;
	const uint8_t bytes[4] = { 0x07, 0x01, 0x00, 0x80 };

	(void)state;
	debug_exit_init(&dbg, on_exit_cb, NULL);
	assert_int_equal(debug_exit_write(&dbg, 0, bytes, 1), 0);
	assert_int_equal(seen_value, 0x07);
	assert_int_equal(debug_exit_write(&dbg, 0, bytes, 2), 0);
	assert_int_equal(seen_value, 0x0107);
	assert_int_equal(debug_exit_write(&dbg, 0, bytes, 4), 0);
	assert_int_equal(seen_value, 0x80000107);
	assert_int_equal(seen_calls, 3);
}

static void test_refused(void **state)
{
	struct debug_exit dbg;
	const uint8_t bytes[8] = { 1 };

	(void)state;
	seen_calls = 0;
	debug_exit_init(&dbg, on_exit_cb, NULL);
	assert_int_equal(debug_exit_write(&dbg, 1, bytes, 1), -EINVAL);
	assert_int_equal(debug_exit_write(&dbg, 0, bytes, 8), -EINVAL);
	assert_int_equal(debug_exit_write(&dbg, 0, bytes, 3), -EINVAL);
	assert_int_equal(seen_calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_widths),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests_name("debug_exit", tests, NULL, NULL);
}
