#include <errno.h>

#include "hopvm/error.h"
#include "hopvm/memory.h"
#include "unit.h"

static void test_small_ram_is_one_region(void **state)
{
	struct guest_mem mem;
	uint8_t *p;

	(void)state;
	assert_int_equal(guest_mem_alloc(&mem, 2ULL << 20, false), 0);
	assert_int_equal(mem.nr_regions, 1);
	assert_int_equal(mem.regions[0].gpa, 0);
	assert_int_equal(mem.regions[0].size, 2ULL << 20);
	p = guest_mem_ptr(&mem, 0x1000, 16);
	assert_non_null(p);
	assert_ptr_equal(p, mem.regions[0].host + 0x1000);
	assert_int_equal(p[0], 0);	/* fresh RAM reads zero */
	/* On a 2 MiB boundary, so KVM can map it with huge nested page table entries. */
	assert_int_equal((uintptr_t)mem.regions[0].host % (2ULL << 20), 0);
	mem.regions[0].host[(2ULL << 20) - 1] = 1;	/* usable to the last byte */
	guest_mem_free(&mem);
}

static void test_large_ram_splits_around_hole(void **state)
{
	struct guest_mem mem;
	uint64_t size = MEM_HOLE_START + (8ULL << 20);

	(void)state;
	assert_int_equal(guest_mem_alloc(&mem, size, false), 0);
	assert_int_equal(mem.nr_regions, 2);
	assert_int_equal(mem.regions[0].size, MEM_HOLE_START);
	assert_int_equal(mem.regions[1].gpa, MEM_HIGH_START);
	assert_int_equal(mem.regions[1].size, 8ULL << 20);
	assert_null(guest_mem_ptr(&mem, MEM_HOLE_START, 1));	/* the hole is not RAM */
	assert_null(guest_mem_ptr(&mem, MEM_HOLE_START - 4, 8));	/* nor is a straddle */
	assert_non_null(guest_mem_ptr(&mem, MEM_HIGH_START + (8ULL << 20) - 8, 8));
	assert_null(guest_mem_ptr(&mem, MEM_HIGH_START + (8ULL << 20) - 8, 9));
	assert_int_equal((uintptr_t)mem.regions[1].host % (2ULL << 20), 0);
	guest_mem_free(&mem);
}

static void test_hugepages_say_what_they_got(void **state)
{
	struct guest_mem mem;

	(void)state;
	assert_int_equal(guest_mem_alloc(&mem, 4ULL << 20, true), 0);
	assert_non_null(strstr(guest_mem_backing_text(&mem), "guest RAM: "));
	assert_int_equal(mem.regions[0].size, 4ULL << 20);
	mem.regions[0].host[(4ULL << 20) - 1] = 1;	/* usable to the last byte */
	guest_mem_free(&mem);
}

static void test_bad_sizes(void **state)
{
	struct guest_mem mem;

	(void)state;
	assert_int_equal(guest_mem_alloc(&mem, (1ULL << 20) + 1, false), -EINVAL);
	assert_err_mentions("multiple of 4 KiB");
	assert_int_equal(guest_mem_alloc(&mem, 4096, false), -EINVAL);
	assert_int_equal(guest_mem_alloc(&mem, MEM_MAX_SIZE + 4096, false), -EINVAL);
}

static void test_checked_translation(void **state)
{
	static uint8_t ram[8192];
	struct guest_mem mem;
	const uint8_t bytes[4] = { 1, 2, 3, 4 };

	(void)state;
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	assert_non_null(guest_mem_ptr(&mem, 8191, 1));
	assert_null(guest_mem_ptr(&mem, 8191, 2));
	assert_null(guest_mem_ptr(&mem, 8192, 0));
	assert_null(guest_mem_ptr(&mem, 1, UINT64_MAX));	/* length wraps */
	assert_null(guest_mem_ptr(&mem, UINT64_MAX, 2));
	assert_int_equal(guest_mem_write(&mem, 8188, bytes, 4), 0);
	assert_memory_equal(ram + 8188, bytes, 4);
	assert_int_equal(guest_mem_write(&mem, 8189, bytes, 4), -EFAULT);
	assert_int_equal(guest_mem_zero(&mem, 8188, 4), 0);
	assert_int_equal(ram[8188], 0);
	assert_int_equal(guest_mem_zero(&mem, 8188, 5), -EFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_ram_is_one_region),
		cmocka_unit_test(test_large_ram_splits_around_hole),
		cmocka_unit_test(test_hugepages_say_what_they_got),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_checked_translation),
	};
	return cmocka_run_group_tests_name("memory", tests, NULL, NULL);
}
