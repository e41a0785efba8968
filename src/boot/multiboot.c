/* Multiboot v1 kernels, loaded as GRUB and QEMU's -kernel do (Multiboot Specification 0.6.96):
 * an ELF32 image or one with the "a.out kludge" addresses in its header, entered in 32-bit
 * protected mode with EAX = 0x2badb002 and EBX = the address of the Multiboot information. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/boot.h"
#include "hopvm/e820.h"
#include "hopvm/error.h"
#include "hopvm/x86.h"

#define MB_HEADER_MAGIC 0x1badb002U
#define MB_BOOT_MAGIC 0x2badb002U
#define MB_SEARCH_LIMIT 8192
#define MB_FLAG_PAGE_ALIGN (1U << 0)
#define MB_FLAG_MEMORY_INFO (1U << 1)
#define MB_FLAG_VIDEO_MODE (1U << 2)
#define MB_FLAG_AOUT_KLUDGE (1U << 16)
#define MB_FLAGS_KNOWN (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO | MB_FLAG_VIDEO_MODE | \
			MB_FLAG_AOUT_KLUDGE)

#define MB_INFO_MEMORY (1U << 0)
#define MB_INFO_BOOT_DEVICE (1U << 1)
#define MB_INFO_CMDLINE (1U << 2)
#define MB_INFO_MODULES (1U << 3)
#define MB_INFO_MMAP (1U << 6)
#define MB_INFO_LOADER_NAME (1U << 9)
/* No BIOS disk: "none" in each partition field, as QEMU says. */
#define MB_BOOT_DEVICE_NONE 0x8000ffffU

#define MB_PAGE 4096ULL
/* The kernel's and each module's command line, with its NUL. */
#define MB_CMDLINE_MAX 0x10000ULL
/* Everything handed to a Multiboot kernel is reached by 32-bit addresses. */
#define MB_ADDR_LIMIT (1ULL << 32)

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
} __attribute__((packed));

struct mb_mmap_entry {
	uint32_t size;	/* of the rest of the entry: 20 */
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

struct mb_module {
	uint32_t mod_start, mod_end;
	uint32_t cmdline;
	uint32_t reserved;
};

/* The information block: the information itself, the GDT the kernel starts with, the memory
 * map, the module list, then the strings. */
#define MB_BLOCK_GDT 0x80
#define MB_BLOCK_MMAP (MB_BLOCK_GDT + X86_BOOT_GDT_SIZE)
#define MB_BLOCK_MODULES (MB_BLOCK_MMAP + E820_MAX_ENTRIES * sizeof(struct mb_mmap_entry))
_Static_assert(sizeof(struct mb_info) <= MB_BLOCK_GDT, "the information fits before the GDT");

int multiboot_find_header(const uint8_t *image, size_t size, size_t *offset)
{
	size_t limit = size < MB_SEARCH_LIMIT ? size : MB_SEARCH_LIMIT;

	for (size_t off = 0; off + 12 <= limit; off += 4) {
		uint32_t w[3];

		memcpy(w, image + off, sizeof(w));
		if (w[0] == MB_HEADER_MAGIC && (uint32_t)(w[0] + w[1] + w[2]) == 0) {
			*offset = off;
			return 0;
		}
	}
	return -ENOENT;
}

static int mb_load_aout(struct guest_mem *mem, const uint8_t *image, size_t size,
			const struct mb_header *h, size_t header_off, uint64_t *entry,
			uint64_t *end)
{
	uint64_t file_start, load_len, bss_len = 0;
	int ret;

	if (header_off + sizeof(*h) > size)
		return err_set(-ENOEXEC, "Multiboot header truncated");
	if (h->header_addr < h->load_addr || h->header_addr - h->load_addr > header_off)
		return err_set(-ENOEXEC, "Multiboot header_addr 0x%x does not match load_addr 0x%x",
			       h->header_addr, h->load_addr);
	file_start = header_off - (h->header_addr - h->load_addr);
	load_len = h->load_end_addr ? (uint64_t)h->load_end_addr - h->load_addr
				    : size - file_start;
	if (h->load_end_addr && h->load_end_addr < h->load_addr)
		return err_set(-ENOEXEC, "Multiboot load_end_addr is below load_addr");
	if (load_len > size - file_start)
		return err_set(-ENOEXEC, "Multiboot load_end_addr 0x%x lies past the end of the file",
			       h->load_end_addr);
	if (h->bss_end_addr) {
		if (h->bss_end_addr < h->load_addr + load_len)
			return err_set(-ENOEXEC, "Multiboot bss_end_addr is below load_end_addr");
		bss_len = h->bss_end_addr - (h->load_addr + load_len);
	}
	ret = boot_check_placement(mem, h->load_addr, load_len + bss_len, true,
				   "Multiboot kernel");
	if (ret < 0)
		return ret;
	if (h->entry_addr < h->load_addr || h->entry_addr >= h->load_addr + load_len)
		return err_set(-ENOEXEC, "Multiboot entry 0x%x is outside the loaded image",
			       h->entry_addr);
	if (guest_mem_write(mem, h->load_addr, image + file_start, load_len) < 0 ||
	    guest_mem_zero(mem, h->load_addr + load_len, bss_len) < 0)
		return err_set(-EFAULT, "cannot write the Multiboot kernel to guest memory");
	*entry = h->entry_addr;
	*end = h->load_addr + load_len + bss_len;
	return 0;
}

static int mb_load_elf32(struct guest_mem *mem, const uint8_t *image, size_t size,
			 uint64_t *entry, uint64_t *end)
{
	Elf32_Ehdr eh;
	bool entry_found = false;
	unsigned loaded = 0;

	if (size < sizeof(eh) || memcmp(image, ELFMAG, SELFMAG) != 0)
		return err_set(-ENOEXEC, "Multiboot kernel is neither ELF nor has load addresses "
			       "in its header (a.out kludge)");
	memcpy(&eh, image, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS32)
		return err_set(-ENOEXEC, "Multiboot kernel is ELF64 without load addresses in its "
			       "header; link it as ELF32 or set the a.out kludge flag");
	if (eh.e_machine != EM_386 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return err_set(-ENOEXEC, "Multiboot ELF kernel is not for i386");
	if (eh.e_phentsize != sizeof(Elf32_Phdr) || eh.e_phnum == 0 ||
	    (uint64_t)eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf32_Phdr) > size)
		return err_set(-ENOEXEC, "Multiboot ELF program headers are missing or truncated");

	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf32_Phdr ph;
		char what[40];
		int ret;

		memcpy(&ph, image + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if ((uint64_t)ph.p_offset + ph.p_filesz > size || ph.p_filesz > ph.p_memsz)
			return err_set(-ENOEXEC, "Multiboot ELF segment %u lies outside the file", i);
		snprintf(what, sizeof(what), "Multiboot ELF segment %u", i);
		ret = boot_check_placement(mem, ph.p_paddr, ph.p_memsz, true, what);
		if (ret < 0)
			return ret;
		if (guest_mem_write(mem, ph.p_paddr, image + ph.p_offset, ph.p_filesz) < 0 ||
		    guest_mem_zero(mem, (uint64_t)ph.p_paddr + ph.p_filesz,
				   ph.p_memsz - ph.p_filesz) < 0)
			return err_set(-EFAULT, "cannot write Multiboot ELF segment %u", i);
		/* The entry is a virtual address; find it in a segment and make it physical. */
		if (eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_memsz) {
			*entry = (uint64_t)eh.e_entry - ph.p_vaddr + ph.p_paddr;
			entry_found = true;
		}
		if ((uint64_t)ph.p_paddr + ph.p_memsz > *end)
			*end = (uint64_t)ph.p_paddr + ph.p_memsz;
		loaded++;
	}
	if (loaded == 0)
		return err_set(-ENOEXEC, "Multiboot ELF kernel has no loadable segments");
	if (!entry_found)
		return err_set(-ENOEXEC, "Multiboot ELF entry 0x%x is in no loaded segment",
			       eh.e_entry);
	return 0;
}

/* Where the next piece goes: page-aligned at *cursor, and never across the hole between 640 KiB
 * and 1 MiB (a piece that would reach into it starts at 1 MiB instead). */
static int mb_place(const struct guest_mem *mem, uint64_t *cursor, uint64_t len,
		    const char *what, uint64_t *addr)
{
	uint64_t at = (*cursor + MB_PAGE - 1) & ~(MB_PAGE - 1);
	int ret;

	if (at < BIOS_AREA_END && at + len > E820_LOW_RAM_END)
		at = BIOS_AREA_END;
	if (at + len > MB_ADDR_LIMIT)
		return err_set(-E2BIG, "%s does not fit below 4 GiB, where a Multiboot kernel "
			       "finds it", what);
	ret = boot_check_placement(mem, at, len, true, what);
	if (ret < 0)
		return ret;
	*addr = at;
	*cursor = at + len;
	return 0;
}

/* "NAME ARGS" as QEMU builds it: the name, a space, then the arguments (maybe none). */
static int mb_cmdline_check(const char *name, const char *args, const char *what)
{
	size_t len = strlen(name) + 1 + (args ? strlen(args) : 0) + 1;

	if (len > MB_CMDLINE_MAX)
		return err_set(-E2BIG, "%s's command line is %zu bytes; a Multiboot kernel gets at "
			       "most %llu", what, len - 1, (unsigned long long)MB_CMDLINE_MAX - 1);
	return 0;
}

static int mb_load_modules(struct guest_mem *mem, const struct boot_options *opts,
			   uint64_t *cursor, struct mb_module *mods)
{
	for (unsigned i = 0; i < opts->nr_modules; i++) {
		const struct boot_module *m = &opts->modules[i];
		uint64_t addr;
		char what[32];
		int ret;

		snprintf(what, sizeof(what), "Multiboot module %u", i + 1);
		ret = mb_cmdline_check(m->cmdline, NULL, what);
		if (ret == 0)
			ret = mb_place(mem, cursor, m->image.size, what, &addr);
		if (ret < 0)
			return ret;
		if (guest_mem_write(mem, addr, m->image.data, m->image.size) < 0)
			return err_set(-EFAULT, "cannot write %s to guest memory", what);
		mods[i] = (struct mb_module){ (uint32_t)addr, (uint32_t)(addr + m->image.size), 0, 0 };
	}
	return 0;
}

/* Builds the information block in a host buffer and writes it at the next free page. */
static int mb_write_info(struct guest_mem *mem, const struct boot_options *opts,
			 uint64_t *cursor, struct mb_module *mods, struct boot_info *boot)
{
	static const char loader_name[] = "hopvm";
	const char *image_name = opts->image_name ? opts->image_name : "";
	struct e820_entry map[E820_MAX_ENTRIES];
	unsigned n = e820_build(mem, map);
	size_t strings = MB_BLOCK_MODULES + opts->nr_modules * sizeof(struct mb_module);
	size_t len = strings + sizeof(loader_name) + strlen(image_name) + 2 +
		     (opts->cmdline ? strlen(opts->cmdline) : 0);
	struct mb_info info = {
		.flags = MB_INFO_MEMORY | MB_INFO_BOOT_DEVICE | MB_INFO_CMDLINE | MB_INFO_MODULES |
			 MB_INFO_MMAP | MB_INFO_LOADER_NAME,
		.mem_lower = (uint32_t)(E820_LOW_RAM_END >> 10),
		.mem_upper = (uint32_t)((mem->regions[0].size - BOOT_FIRMWARE_END) >> 10),
		.boot_device = MB_BOOT_DEVICE_NONE,
		.mods_count = opts->nr_modules,
		.mmap_length = n * (uint32_t)sizeof(struct mb_mmap_entry),
	};
	uint64_t base;
	uint8_t *block;
	size_t at;
	int ret;

	ret = mb_cmdline_check(image_name, opts->cmdline, "the kernel");
	for (unsigned i = 0; ret == 0 && i < opts->nr_modules; i++)
		len += strlen(opts->modules[i].cmdline) + 1;
	if (ret == 0)
		ret = mb_place(mem, cursor, len, "the Multiboot information", &base);
	if (ret < 0)
		return ret;
	block = calloc(1, len);
	if (block == NULL)
		return err_set(-ENOMEM, "out of memory for the Multiboot information");

	for (unsigned i = 0; i < n; i++) {
		struct mb_mmap_entry e = { 20, map[i].addr, map[i].size, map[i].type };

		memcpy(block + MB_BLOCK_MMAP + i * sizeof(e), &e, sizeof(e));
	}
	info.mmap_addr = (uint32_t)(base + MB_BLOCK_MMAP);
	info.mods_addr = (uint32_t)(base + MB_BLOCK_MODULES);
	at = strings;
	info.boot_loader_name = (uint32_t)(base + at);
	memcpy(block + at, loader_name, sizeof(loader_name));
	at += sizeof(loader_name);
	info.cmdline = (uint32_t)(base + at);
	at += (size_t)sprintf((char *)block + at, "%s %s", image_name,
			      opts->cmdline ? opts->cmdline : "") + 1;
	for (unsigned i = 0; i < opts->nr_modules; i++) {
		mods[i].cmdline = (uint32_t)(base + at);
		at += (size_t)sprintf((char *)block + at, "%s", opts->modules[i].cmdline) + 1;
	}
	memcpy(block + MB_BLOCK_MODULES, mods, opts->nr_modules * sizeof(*mods));
	memcpy(block, &info, sizeof(info));
	ret = guest_mem_write(mem, base, block, len);
	free(block);
	if (ret < 0)
		return err_set(-EFAULT, "cannot write the Multiboot information");
	boot->ebx = (uint32_t)base;
	boot->gdt_addr = base + MB_BLOCK_GDT;
	return x86_write_boot_gdt(mem, boot->gdt_addr);
}

int multiboot_load(struct guest_mem *mem, const uint8_t *image, size_t size,
		   const struct boot_options *opts, struct boot_info *info)
{
	struct mb_module mods[BOOT_MAX_MODULES];
	struct mb_header h;
	uint64_t end = 0;
	size_t off;
	int ret;

	if (opts->nr_modules > BOOT_MAX_MODULES)
		return err_set(-E2BIG, "%u Multiboot modules; hopvm loads at most %d",
			       opts->nr_modules, BOOT_MAX_MODULES);
	if (multiboot_find_header(image, size, &off) < 0)
		return err_set(-ENOEXEC, "no Multiboot header in the first 8 KiB");
	memset(&h, 0, sizeof(h));
	memcpy(&h, image + off, size - off < sizeof(h) ? size - off : sizeof(h));
	if (h.flags & 0xffff & ~MB_FLAGS_KNOWN)
		return err_set(-ENOEXEC, "Multiboot header asks for features hopvm lacks "
			       "(flags 0x%x)", h.flags & 0xffff & ~MB_FLAGS_KNOWN);
	/* Video mode requests are optional for a loader: a serial-only machine ignores them. */
	if (h.flags & MB_FLAG_AOUT_KLUDGE)
		ret = mb_load_aout(mem, image, size, &h, off, &info->entry, &end);
	else
		ret = mb_load_elf32(mem, image, size, &info->entry, &end);
	if (ret == 0)
		ret = mb_load_modules(mem, opts, &end, mods);
	if (ret == 0)
		ret = mb_write_info(mem, opts, &end, mods, info);
	if (ret < 0)
		return ret;
	info->mode = BOOT_CPU_PROTECTED;
	info->eax = MB_BOOT_MAGIC;
	return 0;
}
