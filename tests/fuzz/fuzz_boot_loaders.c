/* libFuzzer harness for the image loaders: ELF64, Multiboot (with a module and a command
 * line), raw and Linux bzImage (with an initrd), through boot_load_image as `hopvm run`
 * calls it.  The first input byte picks the format (or auto-detection, with neither module
 * nor initrd), the rest is the image; Linux images also give their release
 * (bzimage_kernel_version).  A loader must refuse what it cannot load with a message, and
 * never write outside the guest's RAM nor read outside the image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/boot.h"
#include "hopvm/error.h"

#define RAM_SIZE (16U << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum boot_format formats[] = {
		BOOT_FORMAT_AUTO, BOOT_FORMAT_ELF64, BOOT_FORMAT_MULTIBOOT, BOOT_FORMAT_RAW,
		BOOT_FORMAT_LINUX,
	};
	static uint8_t initrd_bytes[4096] = "initrd";
	static uint8_t module_bytes[512] = "module";
	const struct boot_image initrd = { initrd_bytes, sizeof(initrd_bytes) };
	const struct boot_module module = { { module_bytes, sizeof(module_bytes) }, "mod arg" };
	struct boot_options opts = { .cmdline = "console=ttyS0", .image_name = "kernel" };
	struct boot_image image;
	struct guest_mem mem;
	struct boot_info info;
	uint8_t *copy;

	if (size < 1)
		return 0;
	if (ram == NULL && (ram = malloc(RAM_SIZE)) == NULL)
		abort();
	opts.format = formats[data[0] % (sizeof(formats) / sizeof(formats[0]))];
	opts.has_load_addr = opts.format == BOOT_FORMAT_RAW;
	opts.load_addr = 0x8000;
	/* What each format takes besides (others refuse these, before looking further). */
	if (opts.format == BOOT_FORMAT_LINUX)
		opts.initrd = &initrd;
	if (opts.format == BOOT_FORMAT_MULTIBOOT) {
		opts.modules = &module;
		opts.nr_modules = 1;
	}
	/* An exactly sized copy, so that AddressSanitizer sees any read past the image. */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data + 1, size - 1);
	image = (struct boot_image){ copy, size - 1 };
	guest_mem_init_buffer(&mem, ram, RAM_SIZE);
	if (boot_load_image(&mem, &image, &opts, &info) < 0) {
		if (err_msg()[0] == '\0')
			abort();	/* a refusal must say why */
		if (getenv("FUZZ_DEBUG") != NULL)	/* to see what the seeds reach */
			fprintf(stderr, "refused: %s\n", err_msg());
	}
	err_clear();
	/* The release hopvm exec finds modules by: a word of printable bytes, or a refusal. */
	if (opts.format == BOOT_FORMAT_LINUX) {
		char release[65];

		if (bzimage_kernel_version(copy, size - 1, release, sizeof(release)) < 0) {
			if (err_msg()[0] == '\0')
				abort();
		} else if (release[0] == '\0' || strchr(release, ' ') != NULL) {
			abort();
		}
		err_clear();
	}
	free(copy);
	return 0;
}
