#include <errno.h>

#include "hopvm/boot.h"
#include "hopvm/x86.h"
#include "unit.h"

static uint8_t ram[1 << 20];

static uint64_t entry_at(uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, ram + gpa, sizeof(v));
	return v;
}

/* Walks the boot page tables the way the CPU would, for an address below 4 GiB. */
static uint64_t translate(uint64_t va)
{
	uint64_t pml4e = entry_at(X86_BOOT_PML4_ADDR + ((va >> 39) & 511) * 8);
	uint64_t pdpte = entry_at((pml4e & ~0xfffULL) + ((va >> 30) & 511) * 8);
	uint64_t pde = entry_at((pdpte & ~0xfffULL) + ((va >> 21) & 511) * 8);

	assert_true(pml4e & 1);
	assert_true(pdpte & 1);
	assert_true(pde & 1);
	assert_true(pde & 0x80);	/* a 2 MiB page */
	return (pde & ~0x1fffffULL) | (va & 0x1fffff);
}

static void test_identity_map_covers_4gib(void **state)
{
	struct guest_mem mem;
	static const uint64_t addrs[] = { 0, 0x100000, 0x12345678, 0xc0000000, 0xfee00000,
					  0xffffffff };

	(void)state;
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	assert_int_equal(x86_write_boot_tables(&mem), 0);
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		assert_int_equal(translate(addrs[i]), addrs[i]);
	assert_int_equal(entry_at(X86_BOOT_PDPT_ADDR + 4 * 8), 0);	/* nothing above 4 GiB */
}

static void test_gdt_matches_selectors(void **state)
{
	struct guest_mem mem;
	uint64_t code, data;

	(void)state;
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	assert_int_equal(x86_write_boot_tables(&mem), 0);
	code = entry_at(X86_BOOT_GDT_ADDR + X86_SEL_CODE64);
	data = entry_at(X86_BOOT_GDT_ADDR + X86_SEL_DATA);
	assert_true(code & (1ULL << 53));	/* L: 64-bit code */
	assert_true(code & (1ULL << 47));	/* present */
	assert_int_equal((code >> 43) & 1, 1);	/* executable */
	assert_int_equal((data >> 43) & 1, 0);
	assert_int_equal(entry_at(X86_BOOT_GDT_ADDR), 0);
}

static void test_long_mode_registers(void **state)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	(void)state;
	memset(&sregs, 0xee, sizeof(sregs));
	x86_long_mode_sregs(&sregs);
	assert_int_equal(sregs.cr0 & 0x80000001, 0x80000001);	/* PG and PE */
	assert_int_equal(sregs.cr4 & 0x20, 0x20);	/* PAE */
	assert_int_equal(sregs.efer & 0x500, 0x500);	/* LME and LMA */
	assert_int_equal(sregs.cr3, X86_BOOT_PML4_ADDR);
	assert_int_equal(sregs.cs.l, 1);
	assert_int_equal(sregs.cs.selector, X86_SEL_CODE64);
	assert_int_equal(sregs.ss.selector, X86_SEL_DATA);
	assert_int_equal(sregs.tr.type, 11);
	x86_boot_regs(&regs, 0x100040);
	assert_int_equal(regs.rip, 0x100040);
	assert_int_equal(regs.rflags, 0x2);
}

static void test_tables_need_ram(void **state)
{
	struct guest_mem mem;

	(void)state;
	guest_mem_init_buffer(&mem, ram, 0x4000);
	assert_int_equal(x86_write_boot_tables(&mem), -EFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_map_covers_4gib),
		cmocka_unit_test(test_gdt_matches_selectors),
		cmocka_unit_test(test_long_mode_registers),
		cmocka_unit_test(test_tables_need_ram),
	};
	return cmocka_run_group_tests_name("x86", tests, NULL, NULL);
}
