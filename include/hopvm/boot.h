/* Boot loaders: putting a guest image into guest memory and saying where it starts.
 *
 * Loaders work on an image already read into a buffer and on a struct guest_mem, with no
 * KVM involved, so unit tests feed them crafted buffers.  A malformed image gets -ENOEXEC
 * and a message in err_msg() that names the problem. */
#ifndef HOPVM_BOOT_H
#define HOPVM_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hopvm/bios_area.h"
#include "hopvm/memory.h"

/* Guest-physical memory below this belongs to hopvm's boot structures (GDT, page tables). */
#define BOOT_AREA_END 0x10000ULL

/* Images larger than this are refused before they are read. */
#define BOOT_IMAGE_MAX_SIZE (1ULL << 30)

struct boot_image {
	uint8_t *data;
	size_t size;
};

/* Reads a whole image file.  -ENOENT, -EACCES, ... with a message naming the file. */
int boot_image_read(const char *path, struct boot_image *image)
	__attribute__((warn_unused_result));
void boot_image_free(struct boot_image *image);

/* Loads an ELF64 x86-64 executable's PT_LOAD segments at their physical addresses, zeroing
 * what lies past each segment's file data, and returns its entry point.  Segments must fit
 * in guest RAM above BOOT_AREA_END; -E2BIG (with the size of RAM needed) when RAM is too
 * small, -ENOEXEC for anything malformed. */
int elf64_load(struct guest_mem *mem, const uint8_t *image, size_t size, uint64_t *entry)
	__attribute__((warn_unused_result));

/* Firmware tables (MP, ACPI) live here; no image may load over them. */
#define BOOT_FIRMWARE_START BIOS_AREA_START
#define BOOT_FIRMWARE_END BIOS_AREA_END

enum boot_format {
	BOOT_FORMAT_AUTO,	/* look at the image */
	BOOT_FORMAT_ELF64,
	BOOT_FORMAT_MULTIBOOT,
	BOOT_FORMAT_RAW,
	BOOT_FORMAT_LINUX,	/* a bzImage, by Linux's x86 boot protocol */
};

enum boot_cpu_mode {
	BOOT_CPU_LONG,		/* 64-bit, paging on with hopvm's identity map */
	BOOT_CPU_PROTECTED,	/* 32-bit flat segments, paging off */
	BOOT_CPU_REAL,		/* 16-bit real mode */
};

/* A Multiboot module: a file loaded beside the kernel, with its own command line. */
struct boot_module {
	struct boot_image image;
	const char *cmdline;	/* as GRUB and QEMU give it: the file's name, then its arguments */
};

#define BOOT_MAX_MODULES 16

struct boot_options {
	enum boot_format format;
	uint64_t load_addr;	/* raw images only */
	bool has_load_addr;
	const char *cmdline;	/* passed to Multiboot and Linux kernels; may be NULL */
	const struct boot_image *initrd;	/* Linux only; may be NULL */
	/* Multiboot only: the kernel's command line starts with image_name, as GRUB's and
	 * QEMU's do (test kernels skip that first word); modules, in order. */
	const char *image_name;
	const struct boot_module *modules;
	unsigned nr_modules;
};

/* Where and how the boot vCPU starts. */
struct boot_info {
	enum boot_format format;
	enum boot_cpu_mode mode;
	uint64_t entry;		/* guest-physical; in real mode, CS:IP as below */
	uint16_t real_cs;	/* real mode: the code segment (entry = real_cs * 16 + IP) */
	uint32_t eax, ebx;	/* handed over in those registers (Multiboot: magic, info) */
	uint64_t gdt_addr;	/* protected mode: the boot GDT (X86_BOOT_GDT_ADDR if 0) */
	uint64_t rsi;		/* Linux: the zero page */
};

/* Writes the boot area (GDT, page tables) and loads the image in the format opts names, or
 * the one it recognises: a Multiboot header in the first 8 KiB wins, then ELF64; raw images
 * must be asked for.  The error message does not name the file; the caller adds it. */
int boot_load_image(struct guest_mem *mem, const struct boot_image *image,
		    const struct boot_options *opts, struct boot_info *info)
	__attribute__((warn_unused_result));

/* "elf64", "multiboot", "raw" or "auto". */
int boot_parse_format(const char *name, enum boot_format *format)
	__attribute__((warn_unused_result));
const char *boot_format_name(enum boot_format format);

/* The loaders boot_load_image() picks from; each fills info. */
int multiboot_find_header(const uint8_t *image, size_t size, size_t *offset);
/* Loads the kernel anywhere in RAM outside the firmware area (low memory too: hopvm keeps
 * no structures of its own there for it), then, page-aligned after the kernel's end, the
 * modules and one block with the Multiboot information, the memory map, the command lines and
 * the GDT the kernel starts with, as QEMU lays them out. */
int multiboot_load(struct guest_mem *mem, const uint8_t *image, size_t size,
		   const struct boot_options *opts, struct boot_info *info)
	__attribute__((warn_unused_result));
int raw_load(struct guest_mem *mem, const uint8_t *image, size_t size, uint64_t load_addr,
	     struct boot_info *info) __attribute__((warn_unused_result));

/* Linux bzImages.  The zero page and command line go in hopvm's boot area's neighbourhood
 * below 640 KiB; the protected-mode kernel at 1 MiB; the initrd as high as the kernel allows
 * in low RAM. */
#define BZIMAGE_ZERO_PAGE_ADDR 0x7000ULL
#define BZIMAGE_CMDLINE_ADDR 0x20000ULL
#define BZIMAGE_CMDLINE_MAX 0x10000ULL	/* with its NUL */
#define BZIMAGE_LOAD_ADDR 0x100000ULL
#define BZIMAGE_DEFAULT_CMDLINE "console=ttyS0"

/* What hopvm needs from a bzImage's setup header, checked. */
struct bzimage_header {
	uint16_t version;		/* boot protocol, 0x020f = 2.15 */
	unsigned setup_size;		/* bytes of real-mode setup before the kernel */
	unsigned header_end;		/* the setup header is [0x1f1, header_end) */
	size_t kernel_size;		/* the protected-mode kernel */
	bool entry_64;			/* has the 64-bit entry (XLF_KERNEL_64) */
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;		/* the longest command line, without its NUL */
	uint64_t pref_address;		/* where it decompresses itself, at least 1 MiB */
	uint32_t init_size;		/* the RAM it needs there */
};

bool bzimage_detect(const uint8_t *image, size_t size);
int bzimage_parse(const uint8_t *image, size_t size, struct bzimage_header *hdr)
	__attribute__((warn_unused_result));
/* The kernel's release as `uname -r` prints it ("6.1.0-57-amd64"): the first word of the
 * string the setup header's kernel_version field points at, written to out with its NUL.
 * hopvm exec uses it to find the kernel's modules.  -ENOEXEC, with a message, for anything
 * but a bzImage carrying a version string (field zero or outside the file, no NUL within 512
 * bytes, empty, bytes that are not printable ASCII); -ERANGE if out is too small. */
int bzimage_kernel_version(const uint8_t *image, size_t size, char *out, size_t len)
	__attribute__((warn_unused_result));
/* Loads the kernel, the initrd (may be NULL) and the command line, writes the zero page.
 * -ENOEXEC for a malformed image, -E2BIG when something does not fit. */
int bzimage_load(struct guest_mem *mem, const uint8_t *image, size_t size,
		 const struct boot_image *initrd, const char *cmdline, struct boot_info *info)
	__attribute__((warn_unused_result));

/* Checks that [addr, addr + len) may hold image data: in RAM, clear of hopvm's boot area
 * (unless low_ok) and of the firmware area.  what names the piece in the message. */
int boot_check_placement(const struct guest_mem *mem, uint64_t addr, uint64_t len, bool low_ok,
			 const char *what) __attribute__((warn_unused_result));

#endif
