/* The console's escape keys, as QEMU's: Ctrl-A x, Ctrl-A h, Ctrl-A Ctrl-A. */
#include "hopvm/console.h"
#include "unit.h"

static enum console_action filter(struct console_escape *esc, const char *in, char *out,
				  size_t *consumed)
{
	size_t out_len;
	enum console_action act = console_escape_filter(esc, (const uint8_t *)in, strlen(in),
							(uint8_t *)out, &out_len, consumed);

	out[out_len] = '\0';
	return act;
}

static void test_plain_bytes_pass(void **state)
{
	struct console_escape esc = { false };
	char out[64];
	size_t consumed;

	(void)state;
	assert_int_equal(filter(&esc, "ls -l\r", out, &consumed), CONSOLE_NONE);
	assert_string_equal(out, "ls -l\r");
	assert_int_equal(consumed, 6);
}

static void test_quit_stops_at_the_key(void **state)
{
	struct console_escape esc = { false };
	char out[64];
	size_t consumed;

	(void)state;
	assert_int_equal(filter(&esc, "ab\001xcd", out, &consumed), CONSOLE_QUIT);
	assert_string_equal(out, "ab");
	assert_int_equal(consumed, 4);
	assert_false(esc.pending);
}

static void test_escape_split_across_reads(void **state)
{
	struct console_escape esc = { false };
	char out[64];
	size_t consumed;

	(void)state;
	assert_int_equal(filter(&esc, "a\001", out, &consumed), CONSOLE_NONE);
	assert_string_equal(out, "a");
	assert_true(esc.pending);
	assert_int_equal(filter(&esc, "x", out, &consumed), CONSOLE_QUIT);
	assert_string_equal(out, "");
}

static void test_double_escape_sends_one(void **state)
{
	struct console_escape esc = { false };
	char out[64];
	size_t consumed;

	(void)state;
	assert_int_equal(filter(&esc, "\001\001z\001qy", out, &consumed), CONSOLE_NONE);
	assert_string_equal(out, "\001zy");	/* Ctrl-A q is not a command: dropped */
	assert_int_equal(filter(&esc, "\001h!", out, &consumed), CONSOLE_HELP);
	assert_int_equal(consumed, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_bytes_pass),
		cmocka_unit_test(test_quit_stops_at_the_key),
		cmocka_unit_test(test_escape_split_across_reads),
		cmocka_unit_test(test_double_escape_sends_one),
	};
	return cmocka_run_group_tests_name("console", tests, NULL, NULL);
}
