/* The MP table and the E820 map, read back the way a guest reads them. */
#include <errno.h>

#include "hopvm/e820.h"
#include "hopvm/mptable.h"
#include "unit.h"

static uint8_t ram[2 << 20];

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

static void test_table_describes_cpus_and_ioapic(void **state)
{
	struct guest_mem mem;
	struct mptable_cpu_info cpu = { 0x600f1, 0x178bfbff };
	const uint8_t *mpf = ram + MPTABLE_ADDR, *mpc, *e;
	unsigned cpus = 0, boot = 0, ioapics = 0, irqs = 0, entries;
	uint32_t mpc_addr;

	(void)state;
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	assert_int_equal(mptable_write(&mem, 4, &cpu, 0), 0);
	assert_memory_equal(mpf, "_MP_", 4);
	assert_int_equal(sum(mpf, 16), 0);
	memcpy(&mpc_addr, mpf + 4, 4);
	mpc = ram + mpc_addr;
	assert_memory_equal(mpc, "PCMP", 4);
	assert_int_equal(sum(mpc, (size_t)(mpc[4] | mpc[5] << 8)), 0);
	entries = (unsigned)(mpc[34] | mpc[35] << 8);
	e = mpc + 44;
	for (unsigned i = 0; i < entries; i++) {
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], cpus);	/* APIC IDs 0..n-1 */
			cpus++;
			boot += (e[3] & 2) != 0;
			e += 20;
			continue;
		case 2:
			ioapics++;
			assert_int_equal(e[1], 4);
			break;
		case 3:
			assert_int_equal(e[5], e[7]);	/* ISA IRQ n on IOAPIC pin n */
			irqs++;
			break;
		}
		e += 8;
	}
	assert_int_equal(cpus, 4);
	assert_int_equal(boot, 1);
	assert_int_equal(ioapics, 1);
	assert_int_equal(irqs, 15);
}

static void test_cpu_limits(void **state)
{
	struct guest_mem mem;
	struct mptable_cpu_info cpu = { 0, 0 };

	(void)state;
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	assert_int_equal(mptable_write(&mem, 0, &cpu, 0), -EINVAL);
	assert_int_equal(mptable_write(&mem, MPTABLE_MAX_CPUS + 1, &cpu, 0), -EINVAL);
	assert_int_equal(mptable_write(&mem, MPTABLE_MAX_CPUS, &cpu, 0), 0);
	guest_mem_init_buffer(&mem, ram, 0xf0000);
	assert_int_equal(mptable_write(&mem, 1, &cpu, 0), -EFAULT);
}

static void test_e820_map(void **state)
{
	struct guest_mem mem;
	struct e820_entry map[E820_MAX_ENTRIES];
	unsigned n;
	uint64_t ram_total = 0;

	(void)state;
	assert_int_equal(guest_mem_alloc(&mem, MEM_HOLE_START + (64ULL << 20), false), 0);
	n = e820_build(&mem, map);
	assert_int_equal(n, 4);
	for (unsigned i = 0; i < n; i++) {
		if (i > 0)
			assert_true(map[i].addr >= map[i - 1].addr + map[i - 1].size);
		if (map[i].type == E820_RAM)
			ram_total += map[i].size;
	}
	assert_int_equal(map[1].type, E820_RESERVED);
	assert_int_equal(map[3].addr, MEM_HIGH_START);
	/* Everything but the legacy hole and firmware area is usable RAM. */
	assert_int_equal(ram_total, mem.ram_size - (0x100000 - E820_LOW_RAM_END));
	guest_mem_free(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_describes_cpus_and_ioapic),
		cmocka_unit_test(test_cpu_limits),
		cmocka_unit_test(test_e820_map),
	};
	return cmocka_run_group_tests_name("mptable", tests, NULL, NULL);
}
