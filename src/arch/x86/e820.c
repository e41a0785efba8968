#include "hopvm/boot.h"
#include "hopvm/e820.h"

unsigned e820_build(const struct guest_mem *mem, struct e820_entry *map)
{
	const struct guest_region *low = &mem->regions[0];
	unsigned n = 0;

	/* The PC's first megabyte: RAM to 640 KiB, then legacy holes, and the firmware area
	 * holding the MP table, which the guest must not reuse as RAM. */
	map[n++] = (struct e820_entry){ 0, E820_LOW_RAM_END, E820_RAM };
	map[n++] = (struct e820_entry){ BOOT_FIRMWARE_START,
					BOOT_FIRMWARE_END - BOOT_FIRMWARE_START, E820_RESERVED };
	if (low->size > BOOT_FIRMWARE_END)
		map[n++] = (struct e820_entry){ BOOT_FIRMWARE_END, low->size - BOOT_FIRMWARE_END,
						E820_RAM };
	for (unsigned i = 1; i < mem->nr_regions; i++)
		map[n++] = (struct e820_entry){ mem->regions[i].gpa, mem->regions[i].size,
						E820_RAM };
	return n;
}
