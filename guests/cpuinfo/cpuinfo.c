/* What the CPU model shows a guest: KVM's paravirtual CPUID leaves (so Linux finds kvmclock),
 * every CPU's APIC ID in leaves 1 and 0xb matching its local APIC, the MSRs firmware set, and
 * some feature flags by their Linux names (so a test sees what --cpu removed or added). */
#include "cpu_flags.h"
#include "guest.h"
#include "x86.h"

#define MAX_CPUS 64
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)

static volatile unsigned mismatches, checked;

static uint64_t rdmsr(uint32_t index)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index));
	return ((uint64_t)hi << 32) | lo;
}

static void check_apic_ids(void)
{
	uint32_t r[4], x2apic_id;
	unsigned lapic = this_apic_id();

	cpuid(1, 0, r);
	cpuid(0xb, 0, r + 0);	/* r[3] is the x2APIC ID */
	x2apic_id = r[3];
	cpuid(1, 0, r);
	if ((r[1] >> 24) != lapic || x2apic_id != lapic)
		__atomic_fetch_add(&mismatches, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&checked, 1, __ATOMIC_RELEASE);
}

static void ap_main(unsigned apic_id)
{
	(void)apic_id;
	check_apic_ids();
	for (;;)
		__asm__ volatile("cli; hlt");
}

int guest_main(void)
{
	uint32_t r[4];
	char sig[13];
	uint8_t ids[MAX_CPUS];
	unsigned n = mptable_find_cpus(ids, MAX_CPUS);

	cpuid(0x40000000, 0, r);
	for (int i = 0; i < 4; i++) {
		sig[i] = (char)(r[1] >> (8 * i));
		sig[4 + i] = (char)(r[2] >> (8 * i));
		sig[8 + i] = (char)(r[3] >> (8 * i));
	}
	sig[12] = '\0';
	serial_printf("cpuinfo: hypervisor signature '%s', max leaf 0x%x\n", sig, r[0]);
	cpuid(0x40000001, 0, r);
	serial_printf("cpuinfo: KVM features 0x%x%s\n", r[0],
		      (r[0] & KVM_FEATURE_CLOCKSOURCE2) ? " (kvmclock)" : "");
	serial_printf("cpuinfo: MISC_ENABLE fast strings %s\n",
		      (rdmsr(0x1a0) & 1) ? "on" : "off");
	cpu_flags_print("cpuinfo");

	check_apic_ids();
	for (unsigned i = 1; i < n; i++)
		ap_start(ids[i], ap_main);
	while (__atomic_load_n(&checked, __ATOMIC_ACQUIRE) < n)
		cpu_relax();
	serial_printf("cpuinfo: %u CPUs, %u APIC ID mismatches\n", n, mismatches);
	return mismatches == 0 ? 0 : 1;
}
