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

static uint32_t info_field(unsigned offset)
{
	return *(const uint32_t *)(uintptr_t)(multiboot_info + offset);
}

static void raise_to_end_of(uint64_t *end, uint64_t addr, uint64_t len)
{
	if (addr + len > *end)
		*end = addr + len;
}

static uint64_t string_size(uint32_t addr)
{
	const char *s = (const char *)(uintptr_t)addr;
	uint64_t n = 0;

	while (s[n])
		n++;
	return n + 1;
}

uint64_t multiboot_loader_end(void)
{
	uint32_t flags;
	uint64_t end = 0;

	if (multiboot_magic != 0x2badb002)
		return 0;
	flags = info_field(0);
	/* The information itself, up to the framebuffer fields. */
	raise_to_end_of(&end, multiboot_info, 116);
	if (flags & (1u << 2))	/* command line */
		raise_to_end_of(&end, info_field(16), string_size(info_field(16)));
	if (flags & (1u << 3)) {	/* modules and their strings */
		uintptr_t table = info_field(24);

		for (uint32_t i = 0; i < info_field(20); i++) {
			const uint32_t *mod = (const uint32_t *)(table + 16 * i);

			raise_to_end_of(&end, (uintptr_t)mod, 16);
			raise_to_end_of(&end, mod[0], mod[1] - mod[0]);
			if (mod[2])
				raise_to_end_of(&end, mod[2], string_size(mod[2]));
		}
	}
	if (flags & (1u << 6))	/* memory map */
		raise_to_end_of(&end, info_field(48), info_field(44));
	if (flags & (1u << 9))	/* boot loader name */
		raise_to_end_of(&end, info_field(64), string_size(info_field(64)));
	return end;
}
