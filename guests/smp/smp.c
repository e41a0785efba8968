/* Finds the CPUs in the MP table, starts every AP with INIT-SIPI-SIPI, has each report its
 * APIC ID, and makes all of them count together with atomics; the total must come out exact. */
#include "guest.h"
#include "x86.h"

#define MAX_CPUS 64
#define ADDS_PER_CPU 20000

static struct spinlock print_lock;
static volatile uint64_t shared_counter;
static volatile unsigned cpus_online, cpus_done;
static volatile int go;
static uint8_t seen_apic_id[256];

static void count_together(void)
{
	for (int i = 0; i < ADDS_PER_CPU; i++)
		__atomic_fetch_add(&shared_counter, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&cpus_done, 1, __ATOMIC_RELEASE);
}

static void ap_main(unsigned expected_id)
{
	unsigned id = this_apic_id();

	spin_lock(&print_lock);
	serial_printf("smp: AP with APIC ID %u online%s\n", id,
		      id == expected_id ? "" : " (UNEXPECTED ID)");
	spin_unlock(&print_lock);
	seen_apic_id[id & 0xff] = 1;
	__atomic_fetch_add(&cpus_online, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		cpu_relax();
	count_together();
	for (;;)
		__asm__ volatile("cli; hlt");
}

int guest_main(void)
{
	uint8_t ids[MAX_CPUS];
	unsigned n = mptable_find_cpus(ids, MAX_CPUS), bsp = this_apic_id();
	uint64_t expected;

	if (n == 0) {
		serial_puts("smp: FAIL: no valid MP table\n");
		return 1;
	}
	serial_printf("smp: MP table lists %u CPUs, BSP has APIC ID %u\n", n, bsp);
	if (ids[0] != bsp) {
		serial_puts("smp: FAIL: the MP table's boot CPU is not this one\n");
		return 1;
	}
	cpus_online = 1;
	seen_apic_id[bsp] = 1;
	for (unsigned i = 1; i < n; i++)
		ap_start(ids[i], ap_main);
	while (__atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE) < n)
		cpu_relax();
	for (unsigned i = 0; i < n; i++) {
		if (!seen_apic_id[ids[i]]) {
			serial_printf("smp: FAIL: APIC ID %u never reported\n", ids[i]);
			return 1;
		}
	}
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	count_together();
	while (__atomic_load_n(&cpus_done, __ATOMIC_ACQUIRE) < n)
		cpu_relax();
	expected = (uint64_t)n * ADDS_PER_CPU;
	serial_printf("smp: %u CPUs online, counter %lu of %lu\n", n,
		      (unsigned long)shared_counter, (unsigned long)expected);
	if (shared_counter != expected) {
		serial_puts("smp: FAIL: lost updates\n");
		return 1;
	}
	serial_puts("smp: PASS\n");
	return 0;
}
