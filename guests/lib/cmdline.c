#include "guest.h"

extern uint32_t multiboot_magic, multiboot_info;

unsigned long cmdline_find_value(const char *cmdline, const char *key, unsigned long fallback)
{
	for (const char *p = cmdline; *p;) {
		const char *k = key;
		unsigned long v = 0;

		while (*k && *p == *k) {
			k++;
			p++;
		}
		if (*k == '\0' && *p == '=') {
			for (p++; *p >= '0' && *p <= '9'; p++)
				v = v * 10 + (unsigned long)(*p - '0');
			return v;
		}
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
	}
	return fallback;
}

unsigned long cmdline_value(const char *key, unsigned long fallback)
{
	const uint8_t *info = (const uint8_t *)(uintptr_t)multiboot_info;

	if (multiboot_magic != 0x2badb002 || !(*(const uint32_t *)info & (1u << 2)))
		return fallback;
	return cmdline_find_value((const char *)(uintptr_t)*(const uint32_t *)(info + 16), key,
				  fallback);
}
