/* Boot loaders: putting a guest image into guest memory and saying where it starts.
 *
 * Loaders work on an image already read into a buffer and on a struct guest_mem, with no
 * KVM involved, so unit tests feed them crafted buffers.  A malformed image gets -ENOEXEC
 * and a message in err_msg() that names the problem. */
#ifndef HOPVM_BOOT_H
#define HOPVM_BOOT_H

#include <stddef.h>
#include <stdint.h>

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

/* Where and how the boot vCPU starts. */
struct boot_info {
	uint64_t entry;	/* guest-physical; the CPU is in 64-bit long mode, paging on */
};

/* Writes the boot area (GDT, page tables) and loads the image, whose format it recognises:
 * today ELF64.  The error message does not name the file; the caller adds it. */
int boot_load_image(struct guest_mem *mem, const struct boot_image *image,
		    struct boot_info *info) __attribute__((warn_unused_result));

#endif
