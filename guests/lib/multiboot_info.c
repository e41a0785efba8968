/* Reading the Multiboot information the loader left (guests built as Multiboot kernels). */
#include "guest.h"

extern uint32_t multiboot_magic, multiboot_info;

struct mb_mmap_entry {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

uint64_t multiboot_ram_top(void)
{
	const uint8_t *info = (const uint8_t *)(uintptr_t)multiboot_info;
	uint32_t flags, length, addr;
	uint64_t top = 0;

	if (multiboot_magic != 0x2badb002)
		return 0;
	flags = *(const uint32_t *)info;
	if (!(flags & (1u << 6)))	/* no memory map */
		return 0x100000 + (uint64_t)*(const uint32_t *)(info + 8) * 1024;
	length = *(const uint32_t *)(info + 44);
	addr = *(const uint32_t *)(info + 48);
	for (uint32_t off = 0; off < length;) {
		const struct mb_mmap_entry *e = (const void *)(uintptr_t)(addr + off);

		if (e->type == 1 && e->addr >= 0x100000 && e->addr + e->len <= 0x100000000ULL &&
		    e->addr + e->len > top)
			top = e->addr + e->len;
		off += e->size + 4;
	}
	return top;
}
