/* The guest's physical memory map, as firmware reports it (BIOS E820, Multiboot mmap, Linux's
 * boot_params): usable RAM and what is reserved. */
#ifndef HOPVM_E820_H
#define HOPVM_E820_H

#include <stdint.h>

#include "hopvm/memory.h"

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_MAX_ENTRIES 8
#define E820_LOW_RAM_END 0xa0000ULL	/* 640 KiB: VGA and BIOS space follow */

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* Fills map (at least E820_MAX_ENTRIES long) from the guest's RAM layout; returns the count. */
unsigned e820_build(const struct guest_mem *mem, struct e820_entry *map);

#endif
