/* Linux's x86 boot protocol for a bzImage (the kernel's Documentation/arch/x86/boot.rst).
 *
 * A bzImage is the real-mode setup code ((setup_sects + 1) sectors, holding the setup header
 * at 0x1f1) followed by the protected-mode kernel.  hopvm plays the boot loader's part and
 * skips the real-mode code: it copies the protected-mode kernel to 1 MiB, fills a zero page
 * (boot_params: the setup header, the E820 map, where the command line and initrd are) and
 * enters the kernel at its 64-bit entry, 0x200 past the load address, with RSI pointing at the
 * zero page.  Kernels without a 64-bit entry get the 32-bit one, in protected mode. */
#include <errno.h>
#include <string.h>

#include "hopvm/boot.h"
#include "hopvm/e820.h"
#include "hopvm/error.h"
#include "hopvm/le.h"

/* Offsets in the image's first sector and in the zero page, which share the header. */
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_E820_TABLE_MAX 128
#define HDR_START 0x1f1
#define HDR_SETUP_SECTS 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_KERNEL_VERSION 0x20e
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END_MAX 0x290	/* past every field of protocol 2.15 */

#define BOOT_FLAG 0xaa55
#define LOADFLAGS_LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x0001
#define TYPE_OF_LOADER_UNDEFINED 0xff
#define PROTOCOL_MIN 0x0206	/* the first with cmdline_size */
#define PROTOCOL_64BIT_ENTRY 0x020c	/* the first with xloadflags */
#define ENTRY_64_OFFSET 0x200

bool bzimage_detect(const uint8_t *image, size_t size)
{
	return size >= HDR_MAGIC + 4 && le16_get(image + HDR_BOOT_FLAG) == BOOT_FLAG &&
	       memcmp(image + HDR_MAGIC, "HdrS", 4) == 0;
}

int bzimage_parse(const uint8_t *image, size_t size, struct bzimage_header *hdr)
{
	unsigned setup_sects;
	uint64_t kernel_bytes;

	memset(hdr, 0, sizeof(*hdr));
	if (size < HDR_END_MAX)
		return err_set(-ENOEXEC, "only %zu bytes: too small for a Linux bzImage", size);
	if (!bzimage_detect(image, size))
		return err_set(-ENOEXEC, "not a Linux bzImage (no 0xaa55 boot flag and \"HdrS\" "
			       "magic in its setup header)");
	hdr->version = le16_get(image + HDR_VERSION);
	if (hdr->version < PROTOCOL_MIN)
		return err_set(-ENOEXEC, "boot protocol %u.%02u is older than 2.06, the oldest "
			       "hopvm boots", hdr->version >> 8, hdr->version & 0xff);
	if (!(image[HDR_LOADFLAGS] & LOADFLAGS_LOADED_HIGH))
		return err_set(-ENOEXEC, "a zImage (kernel loaded below 1 MiB): hopvm boots "
			       "bzImages only");
	setup_sects = image[HDR_SETUP_SECTS] ? image[HDR_SETUP_SECTS] : 4;
	hdr->setup_size = (setup_sects + 1) * 512;
	hdr->header_end = HDR_JUMP + 2 + image[HDR_JUMP + 1];
	if (hdr->header_end > HDR_END_MAX || hdr->header_end > hdr->setup_size)
		return err_set(-ENOEXEC, "setup header ends at 0x%x, past its sector or the "
			       "fields hopvm knows (0x%x)", hdr->header_end, HDR_END_MAX);
	if (hdr->setup_size >= size)
		return err_set(-ENOEXEC, "setup code of %u sectors fills the whole %zu-byte file: "
			       "no kernel follows", setup_sects, size);
	hdr->kernel_size = size - hdr->setup_size;
	kernel_bytes = (uint64_t)le32_get(image + HDR_SYSSIZE) * 16;
	if (kernel_bytes > hdr->kernel_size)
		return err_set(-ENOEXEC, "truncated: the header says %llu bytes of kernel, the "
			       "file holds %zu", (unsigned long long)kernel_bytes,
			       hdr->kernel_size);
	hdr->entry_64 = hdr->version >= PROTOCOL_64BIT_ENTRY &&
			(le16_get(image + HDR_XLOADFLAGS) & XLF_KERNEL_64);
	hdr->initrd_addr_max = le32_get(image + HDR_INITRD_ADDR_MAX);
	hdr->cmdline_size = le32_get(image + HDR_CMDLINE_SIZE);
	/* 2.10 added where the kernel decompresses itself and how much room that takes. */
	if (hdr->version >= 0x020a) {
		hdr->pref_address = le64_get(image + HDR_PREF_ADDRESS);
		hdr->init_size = le32_get(image + HDR_INIT_SIZE);
	}
	if (hdr->pref_address < BZIMAGE_LOAD_ADDR)
		hdr->pref_address = BZIMAGE_LOAD_ADDR;
	if (hdr->init_size < hdr->kernel_size)
		hdr->init_size = hdr->kernel_size;
	return 0;
}

/* The kernel's version string is short ("6.1.0-57-amd64 (debian-kernel@...) #1 SMP ..."):
 * one that runs on for this long is garbage, not a version. */
#define KERNEL_VERSION_MAX 512

int bzimage_kernel_version(const uint8_t *image, size_t size, char *out, size_t len)
{
	const char *text;
	size_t avail, n, word;
	unsigned field;

	if (size < HDR_KERNEL_VERSION + 2 || !bzimage_detect(image, size))
		return err_set(-ENOEXEC, "not a Linux bzImage (no 0xaa55 boot flag and \"HdrS\" "
			       "magic in its setup header)");
	/* The field points into the setup code, counted from its second sector. */
	field = le16_get(image + HDR_KERNEL_VERSION);
	if (field == 0)
		return err_set(-ENOEXEC, "the bzImage carries no version string (its setup "
			       "header's kernel_version is 0)");
	if ((size_t)field + 0x200 >= size)
		return err_set(-ENOEXEC, "the bzImage's version string would be at 0x%x, past "
			       "the end of the %zu-byte file", field + 0x200, size);
	text = (const char *)image + field + 0x200;
	avail = size - (field + 0x200);
	if (avail > KERNEL_VERSION_MAX)
		avail = KERNEL_VERSION_MAX;
	n = strnlen(text, avail);
	if (n == avail)
		return err_set(-ENOEXEC, "the bzImage's version string at 0x%x has no NUL within "
			       "%zu bytes", field + 0x200, avail);
	for (size_t i = 0; i < n; i++)
		if (text[i] < 0x20 || text[i] > 0x7e)
			return err_set(-ENOEXEC, "the bzImage's version string at 0x%x has a "
				       "non-printable byte 0x%02x at %zu", field + 0x200,
				       (uint8_t)text[i], i);
	word = strcspn(text, " ");
	if (word == 0)
		return err_set(-ENOEXEC, "the bzImage's version string at 0x%x is empty",
			       field + 0x200);
	if (word >= len)
		return err_set(-ERANGE, "the kernel release '%.*s' is longer than %zu bytes",
			       (int)word, text, len ? len - 1 : 0);
	memcpy(out, text, word);
	out[word] = '\0';
	return 0;
}

/* The highest 4 KiB-aligned place for the initrd that is under both the kernel's
 * initrd_addr_max and the end of low RAM, and above everything the kernel will use. */
static int place_initrd(const struct guest_mem *mem, const struct bzimage_header *hdr,
			uint64_t kernel_end, size_t initrd_size, uint64_t *addr)
{
	uint64_t limit = (uint64_t)hdr->initrd_addr_max + 1;
	uint64_t low_end = mem->regions[0].size;

	if (limit > low_end)
		limit = low_end;
	if (initrd_size > limit || ((limit - initrd_size) & ~(MEM_PAGE_SIZE - 1)) < kernel_end)
		return err_set(-E2BIG, "an initrd of %zu KiB does not fit between the kernel "
			       "(which uses RAM up to 0x%llx) and 0x%llx; give the guest more with "
			       "--mem", initrd_size >> 10, (unsigned long long)kernel_end,
			       (unsigned long long)limit);
	*addr = (limit - initrd_size) & ~(MEM_PAGE_SIZE - 1);
	return 0;
}

static int write_zero_page(struct guest_mem *mem, const uint8_t *image,
			   const struct bzimage_header *hdr, uint64_t initrd_addr,
			   size_t initrd_size)
{
	uint8_t zp[MEM_PAGE_SIZE];
	struct e820_entry map[E820_MAX_ENTRIES];
	unsigned n = e820_build(mem, map);

	/* Zero stays in the ext_* high halves: the command line and initrd are below 4 GiB. */
	memset(zp, 0, sizeof(zp));
	memcpy(zp + HDR_START, image + HDR_START, hdr->header_end - HDR_START);
	zp[HDR_TYPE_OF_LOADER] = TYPE_OF_LOADER_UNDEFINED;
	le32_put(zp + HDR_CMD_LINE_PTR, (uint32_t)BZIMAGE_CMDLINE_ADDR);
	le32_put(zp + HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
	le32_put(zp + HDR_RAMDISK_SIZE, (uint32_t)initrd_size);
	zp[BP_E820_ENTRIES] = (uint8_t)n;
	for (unsigned i = 0; i < n && i < BP_E820_TABLE_MAX; i++) {
		uint8_t *e = zp + BP_E820_TABLE + 20 * i;

		le64_put(e, map[i].addr);
		le64_put(e + 8, map[i].size);
		le32_put(e + 16, map[i].type);
	}
	return guest_mem_write(mem, BZIMAGE_ZERO_PAGE_ADDR, zp, sizeof(zp));
}

int bzimage_load(struct guest_mem *mem, const uint8_t *image, size_t size,
		 const struct boot_image *initrd, const char *cmdline, struct boot_info *info)
{
	struct bzimage_header hdr;
	uint64_t kernel_end, initrd_addr = 0;
	size_t initrd_size = initrd != NULL ? initrd->size : 0;
	size_t cmdline_len = strlen(cmdline);
	size_t cmdline_max;
	int ret;

	ret = bzimage_parse(image, size, &hdr);
	if (ret < 0)
		return ret;
	cmdline_max = hdr.cmdline_size < BZIMAGE_CMDLINE_MAX - 1 ? hdr.cmdline_size
								 : BZIMAGE_CMDLINE_MAX - 1;
	if (cmdline_len > cmdline_max)
		return err_set(-E2BIG, "the command line of %zu bytes is over the kernel's limit "
			       "of %zu", cmdline_len, cmdline_max);
	/* The kernel decompresses itself at pref_address and needs init_size bytes there. */
	kernel_end = hdr.pref_address + hdr.init_size;
	ret = boot_check_placement(mem, BZIMAGE_LOAD_ADDR, kernel_end - BZIMAGE_LOAD_ADDR, false,
				   "the kernel with the room it decompresses into");
	if (ret < 0)
		return ret;
	if (initrd_size > 0) {
		ret = place_initrd(mem, &hdr, kernel_end, initrd_size, &initrd_addr);
		if (ret < 0)
			return ret;
	}
	ret = guest_mem_write(mem, BZIMAGE_LOAD_ADDR, image + hdr.setup_size, hdr.kernel_size);
	ret |= guest_mem_write(mem, BZIMAGE_CMDLINE_ADDR, cmdline, cmdline_len + 1);
	if (initrd_size > 0)
		ret |= guest_mem_write(mem, initrd_addr, initrd->data, initrd_size);
	ret |= write_zero_page(mem, image, &hdr, initrd_addr, initrd_size);
	if (ret != 0)
		return err_set(-E2BIG, "guest RAM is too small for the kernel; give it more with "
			       "--mem");
	info->mode = hdr.entry_64 ? BOOT_CPU_LONG : BOOT_CPU_PROTECTED;
	info->entry = BZIMAGE_LOAD_ADDR + (hdr.entry_64 ? ENTRY_64_OFFSET : 0);
	info->rsi = BZIMAGE_ZERO_PAGE_ADDR;
	return 0;
}
