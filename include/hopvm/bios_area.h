/* The BIOS area at 0xf0000-0xfffff, where firmware leaves its tables and an OS searches for
 * them: the MP table first, the ACPI tables from BIOS_AREA_ACPI (the RSDP on its 16-byte
 * boundary, as ACPI asks).  E820 reports the area reserved; no image may load there. */
#ifndef HOPVM_BIOS_AREA_H
#define HOPVM_BIOS_AREA_H

#include <stddef.h>
#include <stdint.h>

#define BIOS_AREA_START 0xf0000ULL
#define BIOS_AREA_MPTABLE BIOS_AREA_START
#define BIOS_AREA_ACPI 0xf8000ULL
#define BIOS_AREA_END 0x100000ULL

/* The byte that makes a table's bytes sum to 0 mod 256, as both the MP and ACPI specs ask. */
static inline uint8_t bios_table_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *b++);
	return (uint8_t)-sum;
}

#endif
