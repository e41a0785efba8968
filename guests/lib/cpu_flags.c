#include "cpu_flags.h"
#include "guest.h"
#include "x86.h"

static const struct {
	const char *name;
	uint32_t leaf;
	uint8_t reg, bit;	/* reg: 0 EAX .. 3 EDX */
} flags[] = {
	{ "apic", 1, 3, 9 }, { "sse2", 1, 3, 26 }, { "pni", 1, 2, 0 }, { "ssse3", 1, 2, 9 },
	{ "cx16", 1, 2, 13 }, { "sse4_1", 1, 2, 19 }, { "sse4_2", 1, 2, 20 },
	{ "x2apic", 1, 2, 21 }, { "popcnt", 1, 2, 23 }, { "tsc_deadline_timer", 1, 2, 24 },
	{ "xsave", 1, 2, 26 }, { "avx", 1, 2, 28 }, { "hypervisor", 1, 2, 31 },
	{ "avx2", 7, 1, 5 }, { "smep", 7, 1, 7 }, { "umip", 7, 2, 2 },
	{ "nx", 0x80000001, 3, 20 }, { "pdpe1gb", 0x80000001, 3, 26 },
	{ "lm", 0x80000001, 3, 29 },
};

void cpu_flags_print(const char *prefix)
{
	serial_printf("%s: flags: ", prefix);
	for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		uint32_t r[4];

		cpuid(flags[i].leaf, 0, r);
		if (r[flags[i].reg] & (1u << flags[i].bit))
			serial_printf("%s ", flags[i].name);
	}
	serial_puts("\n");
}
