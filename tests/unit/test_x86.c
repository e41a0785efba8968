#include <errno.h>
#include <stdlib.h>

#include "hopvm/boot.h"
#include "hopvm/kvmclock.h"
#include "hopvm/le.h"
#include "hopvm/migration_stream.h"
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

/* KVM_GET_SUPPORTED_CPUID as two threads on host CPUs 0 and 5 got it (from a real host's
 * list, shortened): only the APIC IDs differ.  free() it. */
#define NR_CPUID 5
#define CPUID_BYTES (NR_CPUID * sizeof(struct kvm_cpuid_entry2))

static struct kvm_cpuid2 *supported_cpuid_on(unsigned host_cpu)
{
	static const struct kvm_cpuid_entry2 base[NR_CPUID] = {
		{ .function = 0, .eax = 0x10, .ebx = 0x68747541, .ecx = 0x444d4163, .edx = 0x69746e65 },
		{ .function = 1, .eax = 0x00a10f11, .ebx = 0x00020800, .ecx = 0x01202000,
		  .edx = 0x078bfbff },
		{ .function = 0xb, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 1,
		  .ebx = 1, .ecx = 0x100 },
		{ .function = 0xb, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 4,
		  .ebx = 2, .ecx = 0x201 },
		{ .function = 0x1f, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 1,
		  .ebx = 1, .ecx = 0x100 },
	};
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + CPUID_BYTES);

	assert_non_null(t);
	t->nent = NR_CPUID;
	memcpy(t->entries, base, sizeof(base));
	t->entries[1].ebx |= host_cpu << 24;
	for (unsigned i = 2; i < NR_CPUID; i++)
		t->entries[i].edx = host_cpu;
	return t;
}

static uint64_t cpuid_hash(const struct kvm_cpuid2 *t)
{
	return mig_hash64(t->entries, CPUID_BYTES, 0);
}

static void test_cpu_model_ignores_host_apic_ids(void **state)
{
	struct kvm_cpuid2 *on0 = supported_cpuid_on(0), *on5 = supported_cpuid_on(5);

	(void)state;
	assert_int_not_equal(cpuid_hash(on0), cpuid_hash(on5));
	x86_cpu_model_from_supported(on0);
	x86_cpu_model_from_supported(on5);
	assert_memory_equal(on0->entries, on5->entries, CPUID_BYTES);
	assert_int_equal(cpuid_hash(on0), cpuid_hash(on5));
	assert_int_equal(on0->entries[1].ebx >> 24, 0);
	assert_true(on0->entries[1].ecx & (1U << 31));	/* the hypervisor bit */
	assert_int_equal(on0->entries[1].ecx & ~(1U << 31), 0x01202000);	/* the rest kept */
	assert_int_equal(on0->entries[3].ecx, 0x201);
	free(on0);
	free(on5);
}

static void test_cpu_model_keeps_other_differences(void **state)
{
	struct kvm_cpuid2 *a = supported_cpuid_on(0), *b = supported_cpuid_on(0);

	(void)state;
	b->entries[1].ecx &= ~(1U << 21);	/* a host without x2APIC */
	x86_cpu_model_from_supported(a);
	x86_cpu_model_from_supported(b);
	assert_int_not_equal(cpuid_hash(a), cpuid_hash(b));
	free(a);
	free(b);
}

static void test_vcpu_gets_its_apic_id(void **state)
{
	struct kvm_cpuid2 *t = supported_cpuid_on(3);

	(void)state;
	x86_cpu_model_from_supported(t);
	x86_cpuid_set_apic_id(t, 7);
	assert_int_equal(t->entries[1].ebx, 0x07020800);
	for (unsigned i = 2; i < NR_CPUID; i++)
		assert_int_equal(t->entries[i].edx, 7);
	assert_int_equal(t->entries[0].edx, 0x69746e65);	/* leaf 0 untouched */
	free(t);
}

/* KVM's PICs as created (all zero, ICW1 never written) become a BIOS's: IRQ 11 at vector 0x73,
 * not at 3; what the lines hold (IRR, ISR) and the chip's ELCR mask are left alone. */
static void test_pics_as_bios_leaves_them(void **state)
{
	struct kvm_pic_state master = { .irr = 0x01, .elcr_mask = 0xf8, .imr = 0xff,
					.init_state = 1, .elcr = 0x08 };
	struct kvm_pic_state slave = { .isr = 0x08, .elcr_mask = 0xde };

	(void)state;
	x86_pic_bios_state(&master, false);
	x86_pic_bios_state(&slave, true);
	assert_int_equal(master.irq_base, 0x08);
	assert_int_equal(slave.irq_base, 0x70);
	assert_int_equal(slave.irq_base + (11 - 8), 0x73);
	for (unsigned i = 0; i < 2; i++) {
		const struct kvm_pic_state *p = i ? &slave : &master;

		assert_int_equal(p->init_state, 0);
		assert_int_equal(p->init4, 1);
		assert_int_equal(p->imr, 0);
		assert_int_equal(p->elcr, 0);
		assert_int_equal(p->auto_eoi, 0);
		assert_int_equal(p->read_reg_select, 0);
	}
	assert_int_equal(master.irr, 0x01);
	assert_int_equal(slave.isr, 0x08);
	assert_int_equal(master.elcr_mask, 0xf8);
	assert_int_equal(slave.elcr_mask, 0xde);
}

static void test_double_fault_undeliverable(void **state)
{
	struct kvm_sregs sregs;

	(void)state;
	memset(&sregs, 0, sizeof(sregs));
	x86_long_mode_sregs(&sregs);
	sregs.idt.limit = 0;
	assert_true(x86_double_fault_undeliverable(&sregs));
	sregs.idt.limit = 9 * 16 - 2;	/* one byte short of the #DF gate */
	assert_true(x86_double_fault_undeliverable(&sregs));
	sregs.idt.limit = 9 * 16 - 1;
	assert_false(x86_double_fault_undeliverable(&sregs));
	x86_protected_mode_sregs(&sregs, X86_BOOT_GDT_ADDR);
	sregs.idt.limit = 9 * 8 - 1;
	assert_false(x86_double_fault_undeliverable(&sregs));
	sregs.idt.limit = 9 * 8 - 2;
	assert_true(x86_double_fault_undeliverable(&sregs));
	x86_real_mode_sregs(&sregs, 0);
	sregs.cr0 = 0;
	sregs.idt.limit = 0x3ff;	/* the reset IVT */
	assert_false(x86_double_fault_undeliverable(&sregs));
}

/* A kvmclock page at gpa as KVM writes it. */
static void put_kvmclock(uint64_t gpa, uint32_t version, uint64_t stamp, uint64_t system_time,
			 uint32_t mul, int8_t shift)
{
	memset(ram + gpa, 0, KVMCLOCK_PAGE_SIZE);
	le32_put(ram + gpa, version);
	le64_put(ram + gpa + 8, stamp);
	le64_put(ram + gpa + 16, system_time);
	le32_put(ram + gpa + 24, mul);
	ram[gpa + 28] = (uint8_t)shift;
}

static void test_kvmclock_guest_time(void **state)
{
	struct guest_mem mem;
	uint64_t ns = 0;

	(void)state;
	guest_mem_init_buffer(&mem, ram, sizeof(ram));
	/* mul 2^31 halves: 2000 ticks, shifted left once, are 2000 ns. */
	put_kvmclock(0x3000, 2, 1000, 5000000000ULL, 0x80000000U, 1);
	assert_int_equal(kvmclock_guest_ns(&mem, 0x3001, 3000, &ns), 0);
	assert_int_equal(ns, 5000000000ULL + 2000);
	put_kvmclock(0x3000, 2, 1000, 5000000000ULL, 0x80000000U, -2);
	assert_int_equal(kvmclock_guest_ns(&mem, 0x3001, 3000, &ns), 0);
	assert_int_equal(ns, 5000000000ULL + 250);
	/* A TSC before the page's stamp reads as the stamp's time. */
	assert_int_equal(kvmclock_guest_ns(&mem, 0x3001, 10, &ns), 0);
	assert_int_equal(ns, 5000000000ULL);
	/* One second of a 2.6 GHz TSC, scaled as KVM would (shift -1, then 1e9 / 1.298e9). */
	put_kvmclock(0x3000, 4, 0, 0, 3308822409U, -1);
	assert_int_equal(kvmclock_guest_ns(&mem, 0x3001, 2596070000ULL, &ns), 0);
	assert_true(ns > 999999000ULL && ns < 1000001000ULL);
	/* A shift no KVM writes (a guest scribbled on its page) counts no ticks. */
	put_kvmclock(0x3000, 2, 1000, 7, 0x80000000U, 100);
	assert_int_equal(kvmclock_guest_ns(&mem, 0x3001, 3000, &ns), 0);
	assert_int_equal(ns, 7);
	/* Midway through KVM's update, off, or outside RAM: no time from it. */
	put_kvmclock(0x3000, 3, 1000, 5000000000ULL, 0x80000000U, 1);
	assert_int_equal(kvmclock_guest_ns(&mem, 0x3001, 3000, &ns), -EAGAIN);
	assert_int_equal(kvmclock_guest_ns(&mem, 0x3000, 3000, &ns), -ENOENT);
	assert_int_equal(kvmclock_guest_ns(&mem, sizeof(ram) - 16 + 1, 3000, &ns), -EFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_map_covers_4gib),
		cmocka_unit_test(test_gdt_matches_selectors),
		cmocka_unit_test(test_long_mode_registers),
		cmocka_unit_test(test_tables_need_ram),
		cmocka_unit_test(test_cpu_model_ignores_host_apic_ids),
		cmocka_unit_test(test_cpu_model_keeps_other_differences),
		cmocka_unit_test(test_vcpu_gets_its_apic_id),
		cmocka_unit_test(test_pics_as_bios_leaves_them),
		cmocka_unit_test(test_double_fault_undeliverable),
		cmocka_unit_test(test_kvmclock_guest_time),
	};
	return cmocka_run_group_tests_name("x86", tests, NULL, NULL);
}
