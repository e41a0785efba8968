#include <errno.h>

#include "hopvm/error.h"
#include "hopvm/size.h"
#include "unit.h"

static void test_suffixes(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
		{ "64", 64ULL << 20 },	{ "512K", 512ULL << 10 }, { "512k", 512ULL << 10 },
		{ "128M", 128ULL << 20 }, { "2G", 2ULL << 30 },	  { "1T", 1ULL << 40 },
		{ "3MiB", 3ULL << 20 },	{ "3MB", 3ULL << 20 },	  { "1g", 1ULL << 30 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t bytes = 0;

		assert_int_equal(parse_size(cases[i].text, &bytes), 0);
		assert_int_equal(bytes, cases[i].bytes);
	}
}

static void test_malformed(void **state)
{
	static const char *const bad[] = { "", "M", "abc", "12X", "5MiBx", "-5", "1.5G", " 1G",
					   "1 G", "1GG" };
	uint64_t bytes = 77;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear();
		assert_int_equal(parse_size(bad[i], &bytes), -EINVAL);
		assert_true(err_msg()[0] != '\0');
	}
	assert_int_equal(parse_size(NULL, &bytes), -EINVAL);
	assert_int_equal(bytes, 77);	/* untouched on failure */
}

static void test_unit_named_in_message(void **state)
{
	uint64_t bytes;

	(void)state;
	assert_int_equal(parse_size("12X", &bytes), -EINVAL);
	assert_err_mentions("unknown unit 'X'");
	assert_int_equal(parse_size("0", &bytes), -EINVAL);
	assert_err_mentions("zero");
}

static void test_overflow(void **state)
{
	uint64_t bytes;

	(void)state;
	assert_int_equal(parse_size("99999999999999999999", &bytes), -ERANGE);
	assert_int_equal(parse_size("17179869184T", &bytes), -ERANGE);	/* 2^34 TiB */
	assert_int_equal(parse_size("16777215T", &bytes), 0);
	assert_int_equal(bytes, 16777215ULL << 40);
	assert_int_equal(parse_size("18446744073709551615K", &bytes), -ERANGE);
}

static void test_rates(void **state)
{
	uint64_t bytes = 7;

	(void)state;
	assert_int_equal(parse_rate("0", &bytes), 0);	/* no limit */
	assert_true(bytes == 0);
	assert_int_equal(parse_rate("4M", &bytes), 0);
	assert_true(bytes == 4ULL << 20);
	assert_int_equal(parse_rate("fast", &bytes), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suffixes),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_unit_named_in_message),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_rates),
	};
	return cmocka_run_group_tests_name("size", tests, NULL, NULL);
}
