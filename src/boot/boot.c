#include <elf.h>
#include <errno.h>
#include <string.h>

#include "hopvm/boot.h"
#include "hopvm/error.h"
#include "hopvm/x86.h"

static const char *const format_names[] = {
	[BOOT_FORMAT_AUTO] = "auto",
	[BOOT_FORMAT_ELF64] = "elf64",
	[BOOT_FORMAT_MULTIBOOT] = "multiboot",
	[BOOT_FORMAT_RAW] = "raw",
	[BOOT_FORMAT_LINUX] = "linux",
};

const char *boot_format_name(enum boot_format format)
{
	return format_names[format];
}

int boot_parse_format(const char *name, enum boot_format *format)
{
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
		if (strcmp(name, format_names[i]) == 0) {
			*format = (enum boot_format)i;
			return 0;
		}
	}
	return err_set(-EINVAL, "unknown image format '%s' (use auto, elf64, multiboot, raw or linux)",
		       name);
}

int boot_check_placement(const struct guest_mem *mem, uint64_t addr, uint64_t len, bool low_ok,
			 const char *what)
{
	uint64_t end;

	if (__builtin_add_overflow(addr, len, &end))
		return err_set(-ENOEXEC, "%s: address range wraps", what);
	if (!low_ok && addr < BOOT_AREA_END)
		return err_set(-ENOEXEC, "%s at 0x%llx overlaps hopvm's boot area below 0x%llx",
			       what, (unsigned long long)addr, (unsigned long long)BOOT_AREA_END);
	if (addr < BOOT_FIRMWARE_END && end > BOOT_FIRMWARE_START)
		return err_set(-ENOEXEC,
			       "%s (0x%llx-0x%llx) overlaps the firmware area 0x%llx-0x%llx",
			       what, (unsigned long long)addr, (unsigned long long)end,
			       (unsigned long long)BOOT_FIRMWARE_START,
			       (unsigned long long)BOOT_FIRMWARE_END);
	if (guest_mem_ptr(mem, addr, len) == NULL)
		return err_set(-E2BIG,
			       "%s (0x%llx-0x%llx) does not fit in guest RAM of %llu KiB; "
			       "give it more with --mem",
			       what, (unsigned long long)addr, (unsigned long long)end,
			       (unsigned long long)(mem->ram_size >> 10));
	return 0;
}

static enum boot_format boot_detect(const struct boot_image *image)
{
	size_t offset;

	if (bzimage_detect(image->data, image->size))
		return BOOT_FORMAT_LINUX;
	if (multiboot_find_header(image->data, image->size, &offset) == 0)
		return BOOT_FORMAT_MULTIBOOT;
	return BOOT_FORMAT_ELF64;	/* the ELF loader explains what else it is not */
}

int boot_load_image(struct guest_mem *mem, const struct boot_image *image,
		    const struct boot_options *opts, struct boot_info *info)
{
	enum boot_format format = opts->format;
	int ret;

	memset(info, 0, sizeof(*info));
	if (format == BOOT_FORMAT_AUTO)
		format = boot_detect(image);
	if (opts->has_load_addr && format != BOOT_FORMAT_RAW)
		return err_set(-EINVAL, "--load-addr applies to --format raw only");
	if (opts->initrd != NULL && format != BOOT_FORMAT_LINUX)
		return err_set(-EINVAL, "--initrd applies to Linux kernels only, and this is %s",
			       format_names[format]);
	if (opts->nr_modules > 0 && format != BOOT_FORMAT_MULTIBOOT)
		return err_set(-EINVAL, "--module applies to Multiboot kernels only, and this is %s",
			       format_names[format]);
	info->format = format;
	switch (format) {
	case BOOT_FORMAT_RAW:
		/* Real mode needs no tables of ours, and the low pages stay the guest's. */
		if (!opts->has_load_addr)
			return err_set(-EINVAL, "a raw image needs --load-addr");
		return raw_load(mem, image->data, image->size, opts->load_addr, info);
	case BOOT_FORMAT_LINUX:
		ret = x86_write_boot_tables(mem);
		return ret < 0 ? ret : bzimage_load(mem, image->data, image->size, opts->initrd,
						    opts->cmdline != NULL ? opts->cmdline
									  : BZIMAGE_DEFAULT_CMDLINE,
						    info);
	case BOOT_FORMAT_MULTIBOOT:
		/* Paging is off and the GDT sits with the kernel's information: low memory is
		 * the kernel's to load into. */
		return multiboot_load(mem, image->data, image->size, opts, info);
	default:
		ret = x86_write_boot_tables(mem);
		if (ret < 0)
			return ret;
		info->mode = BOOT_CPU_LONG;
		return elf64_load(mem, image->data, image->size, &info->entry);
	}
}
