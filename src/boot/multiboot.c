/* Multiboot v1 kernels, loaded as GRUB and QEMU's -kernel do (Multiboot Specification 0.6.96):
 * an ELF32 image or one with the "a.out kludge" addresses in its header, entered in 32-bit
 * protected mode with EAX = 0x2badb002 and EBX = the address of the Multiboot information. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hopvm/boot.h"
#include "hopvm/e820.h"
#include "hopvm/error.h"

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
#define MB_INFO_CMDLINE (1U << 2)
#define MB_INFO_MMAP (1U << 6)
#define MB_INFO_LOADER_NAME (1U << 9)

/* Where hopvm puts the information for the kernel, inside its boot area. */
#define MB_INFO_ADDR 0x9000ULL
#define MB_MMAP_ADDR 0x9100ULL
#define MB_LOADER_NAME_ADDR 0x9300ULL
#define MB_CMDLINE_ADDR 0xa000ULL
#define MB_CMDLINE_MAX (0x10000ULL - MB_CMDLINE_ADDR)

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
			const struct mb_header *h, size_t header_off, uint64_t *entry)
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
	ret = boot_check_placement(mem, h->load_addr, load_len + bss_len, false,
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
	return 0;
}

static int mb_load_elf32(struct guest_mem *mem, const uint8_t *image, size_t size,
			 uint64_t *entry)
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
		ret = boot_check_placement(mem, ph.p_paddr, ph.p_memsz, false, what);
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
		loaded++;
	}
	if (loaded == 0)
		return err_set(-ENOEXEC, "Multiboot ELF kernel has no loadable segments");
	if (!entry_found)
		return err_set(-ENOEXEC, "Multiboot ELF entry 0x%x is in no loaded segment",
			       eh.e_entry);
	return 0;
}

static int mb_write_info(struct guest_mem *mem, const char *cmdline)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct mb_mmap_entry mmap[E820_MAX_ENTRIES];
	static const char loader_name[] = "hopvm";
	unsigned n = e820_build(mem, map);
	struct mb_info info = {
		.flags = MB_INFO_MEMORY | MB_INFO_MMAP | MB_INFO_LOADER_NAME,
		.mem_lower = (uint32_t)(E820_LOW_RAM_END >> 10),
		.mem_upper = (uint32_t)((mem->regions[0].size - BOOT_FIRMWARE_END) >> 10),
		.mmap_length = n * (uint32_t)sizeof(mmap[0]),
		.mmap_addr = (uint32_t)MB_MMAP_ADDR,
		.boot_loader_name = (uint32_t)MB_LOADER_NAME_ADDR,
	};
	int ret = 0;

	for (unsigned i = 0; i < n; i++)
		mmap[i] = (struct mb_mmap_entry){ 20, map[i].addr, map[i].size, map[i].type };
	if (cmdline != NULL) {
		size_t len = strlen(cmdline) + 1;

		if (len > MB_CMDLINE_MAX)
			return err_set(-E2BIG, "the command line is %zu bytes; Multiboot kernels get "
				       "at most %llu", len - 1,
				       (unsigned long long)MB_CMDLINE_MAX - 1);
		ret |= guest_mem_write(mem, MB_CMDLINE_ADDR, cmdline, len);
		info.flags |= MB_INFO_CMDLINE;
		info.cmdline = (uint32_t)MB_CMDLINE_ADDR;
	}
	ret |= guest_mem_write(mem, MB_MMAP_ADDR, mmap, info.mmap_length);
	ret |= guest_mem_write(mem, MB_LOADER_NAME_ADDR, loader_name, sizeof(loader_name));
	ret |= guest_mem_write(mem, MB_INFO_ADDR, &info, sizeof(info));
	return ret ? err_set(-EFAULT, "cannot write the Multiboot information") : 0;
}

int multiboot_load(struct guest_mem *mem, const uint8_t *image, size_t size,
		   const char *cmdline, struct boot_info *info)
{
	struct mb_header h;
	size_t off;
	int ret;

	if (multiboot_find_header(image, size, &off) < 0)
		return err_set(-ENOEXEC, "no Multiboot header in the first 8 KiB");
	memset(&h, 0, sizeof(h));
	memcpy(&h, image + off, size - off < sizeof(h) ? size - off : sizeof(h));
	if (h.flags & 0xffff & ~MB_FLAGS_KNOWN)
		return err_set(-ENOEXEC, "Multiboot header asks for features hopvm lacks "
			       "(flags 0x%x)", h.flags & 0xffff & ~MB_FLAGS_KNOWN);
	/* Video mode requests are optional for a loader: a serial-only machine ignores them. */
	if (h.flags & MB_FLAG_AOUT_KLUDGE)
		ret = mb_load_aout(mem, image, size, &h, off, &info->entry);
	else
		ret = mb_load_elf32(mem, image, size, &info->entry);
	if (ret < 0)
		return ret;
	ret = mb_write_info(mem, cmdline);
	if (ret < 0)
		return ret;
	info->mode = BOOT_CPU_PROTECTED;
	info->eax = MB_BOOT_MAGIC;
	info->ebx = (uint32_t)MB_INFO_ADDR;
	return 0;
}
