/* The records of /hopvm/exec, byte for byte as exec_abi.h gives them. */
#include <errno.h>

#include "hopvm/error.h"
#include "hopvm/exec_config.h"
#include "unit.h"

static void test_records(void **state)
{
	static const char want[] = "module=fuse.ko\0root=hostroot\0tmpfs=/tmp\0uid=1000\0"
				   "groups=\0env=PATH=/usr/bin:/bin\0arg=sh\0arg=-c\0"
				   "arg=echo a=b  c\0arg=\0";
	struct exec_config cfg;

	(void)state;
	exec_config_init(&cfg);
	assert_int_equal(exec_config_add(&cfg, "module", "fuse.ko"), 0);
	assert_int_equal(exec_config_add(&cfg, "root", "hostroot"), 0);
	assert_int_equal(exec_config_add(&cfg, "tmpfs", "/tmp"), 0);
	assert_int_equal(exec_config_add(&cfg, "uid", "1000"), 0);
	assert_int_equal(exec_config_add(&cfg, "groups", ""), 0);
	assert_int_equal(exec_config_add(&cfg, "env", "PATH=/usr/bin:/bin"), 0);
	assert_int_equal(exec_config_add(&cfg, "arg", "sh"), 0);
	assert_int_equal(exec_config_add_mem(&cfg, "arg", "-c", 2), 0);
	assert_int_equal(exec_config_add(&cfg, "arg", "echo a=b  c"), 0);
	assert_int_equal(exec_config_add(&cfg, "arg", ""), 0);
	/* The whole string literal but its own final NUL. */
	assert_int_equal(cfg.size, sizeof(want) - 1);
	assert_memory_equal(cfg.data, want, cfg.size);
	exec_config_free(&cfg);
	assert_null(cfg.data);
}

/* Grows past its first buffer without losing what came before. */
static void test_long_values(void **state)
{
	static char value[5000];
	struct exec_config cfg;

	(void)state;
	memset(value, 'v', sizeof(value) - 1);
	exec_config_init(&cfg);
	assert_int_equal(exec_config_add(&cfg, "cwd", "/"), 0);
	assert_int_equal(exec_config_add(&cfg, "arg", value), 0);
	assert_int_equal(exec_config_add(&cfg, "arg", value), 0);
	assert_int_equal(cfg.size, 6 + 2 * (4 + sizeof(value)));
	assert_memory_equal(cfg.data, "cwd=/\0arg=vvv", 13);
	assert_int_equal(cfg.data[cfg.size - 1], '\0');
	assert_int_equal(cfg.data[cfg.size - 2], 'v');
	exec_config_free(&cfg);
}

static void test_refusals(void **state)
{
	struct exec_config cfg;

	(void)state;
	exec_config_init(&cfg);
	assert_int_equal(exec_config_add(&cfg, "arg", "kept"), 0);
	assert_int_equal(exec_config_add_mem(&cfg, "arg", "a\0b", 3), -EINVAL);
	assert_err_mentions("arg= holds a NUL");
	assert_int_equal(exec_config_add(&cfg, "", "x"), -EINVAL);
	assert_err_mentions("key ''");
	assert_int_equal(exec_config_add(&cfg, "env=PATH", "x"), -EINVAL);
	assert_err_mentions("key 'env=PATH' is not lower-case letters");
	assert_int_equal(exec_config_add(&cfg, "Arg", "x"), -EINVAL);
	assert_int_equal(cfg.size, sizeof("arg=kept"));
	exec_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_long_values),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests_name("exec_config", tests, NULL, NULL);
}
