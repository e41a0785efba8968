/* Finding the CPUs in the MP table, as an OS without ACPI does (Intel MP spec 1.4, 4.1). */
#include "guest.h"
#include "x86.h"

static bool sum_is_zero(const uint8_t *p, unsigned len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return sum == 0;
}

static const uint8_t *find_floating_pointer(void)
{
	for (uintptr_t a = 0xf0000; a < 0x100000; a += 16) {
		const uint8_t *p = (const uint8_t *)a;

		if (p[0] == '_' && p[1] == 'M' && p[2] == 'P' && p[3] == '_' && sum_is_zero(p, 16))
			return p;
	}
	return 0;
}

unsigned mptable_find_cpus(uint8_t *apic_ids, unsigned max)
{
	const uint8_t *mpf = find_floating_pointer(), *mpc, *entry;
	unsigned count = 0, entries;

	if (mpf == 0)
		return 0;
	mpc = (const uint8_t *)(uintptr_t)(*(const uint32_t *)(mpf + 4));
	if (mpc[0] != 'P' || mpc[1] != 'C' || mpc[2] != 'M' || mpc[3] != 'P' ||
	    !sum_is_zero(mpc, *(const uint16_t *)(mpc + 4)))
		return 0;
	entries = *(const uint16_t *)(mpc + 34);
	entry = mpc + 44;
	for (unsigned i = 0; i < entries; i++) {
		if (entry[0] != 0) {	/* anything but a processor is 8 bytes */
			entry += 8;
			continue;
		}
		if ((entry[3] & 1) && count < max) {	/* enabled */
			if (entry[3] & 2) {	/* the boot CPU goes first */
				for (unsigned j = count; j > 0; j--)
					apic_ids[j] = apic_ids[j - 1];
				apic_ids[0] = entry[1];
			} else {
				apic_ids[count] = entry[1];
			}
			count++;
		}
		entry += 20;
	}
	return count;
}
