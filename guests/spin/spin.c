/* Keeps every CPU busy for a while, each counting on its own and all together, and checks
 * that nothing but time passed: no lost or doubled updates, and a TSC that never goes back.
 * The pause/resume stress test pauses and resumes it many times while it runs.  The APs count
 * at CPL 3, as applications do, so that they really run on the host's CPUs at once even
 * where KVM emulates guest kernel code (PVM). */
#include "guest.h"
#include "user_mode.h"
#include "x86.h"

#define MAX_CPUS 64
#define ROUNDS_PER_CPU 30000000UL	/* long enough for the pause stress test to land 20+ pauses */

static volatile uint64_t shared_counter;
static volatile uint64_t own_counter[MAX_CPUS];
static volatile unsigned cpus_online, cpus_done, tsc_went_back;
static volatile int go;

static unsigned nr_workers;

static void count(unsigned slot)
{
	uint64_t last = rdtsc();

	for (unsigned long i = 0; i < ROUNDS_PER_CPU; i++) {
		uint64_t now;

		own_counter[slot]++;
		__atomic_fetch_add(&shared_counter, 1, __ATOMIC_RELAXED);
		if ((i & 1023) == 0) {
			now = rdtsc();
			if (now < last)
				__atomic_fetch_add(&tsc_went_back, 1, __ATOMIC_RELAXED);
			last = now;
		}
	}
	__atomic_fetch_add(&cpus_done, 1, __ATOMIC_RELEASE);
}

/* At CPL 3, for good: counts, then waits for the VM to end. */
static void ap_count(uint64_t slot)
{
	count((unsigned)slot);
	for (;;)
		cpu_relax();
}

static void ap_main(unsigned apic_id)
{
	static volatile unsigned next_slot = 1;
	unsigned slot = __atomic_fetch_add(&next_slot, 1, __ATOMIC_RELAXED);

	(void)apic_id;
	__atomic_fetch_add(&cpus_online, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		cpu_relax();
	user_enter(ap_count, slot);
}

int guest_main(void)
{
	uint8_t ids[MAX_CPUS];
	unsigned n = mptable_find_cpus(ids, MAX_CPUS);
	uint64_t sum = 0, start;

	if (n == 0) {
		serial_puts("spin: FAIL: no MP table\n");
		return 1;
	}
	/* The APs count and the boot CPU, which must stay at CPL 0 to report, watches; alone,
	 * it counts itself. */
	nr_workers = n > 1 ? n - 1 : 1;
	cpus_online = 1;
	for (unsigned i = 1; i < n; i++)
		ap_start(ids[i], ap_main);
	while (__atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE) < n)
		cpu_relax();
	serial_printf("spin: %u CPUs spinning\n", n);
	start = rdtsc();
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	if (n == 1)
		count(0);
	while (__atomic_load_n(&cpus_done, __ATOMIC_ACQUIRE) < nr_workers)
		cpu_relax();
	for (unsigned i = 0; i < n; i++)
		sum += own_counter[i];
	serial_printf("spin: shared %lu, own counters %lu, expected %lu, TSC went back %u times, "
		      "%lu TSC ticks\n", (unsigned long)shared_counter, (unsigned long)sum,
		      nr_workers * ROUNDS_PER_CPU, tsc_went_back, (unsigned long)(rdtsc() - start));
	if (shared_counter != nr_workers * ROUNDS_PER_CPU || sum != shared_counter ||
	    tsc_went_back) {
		serial_puts("spin: FAIL\n");
		return 1;
	}
	serial_puts("spin: PASS\n");
	return 0;
}
