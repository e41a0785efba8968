/* Raw binaries: the bytes go to --load-addr and the CPU starts there in real mode, like a
 * boot sector.  CS is the 64 KiB segment holding the load address (0x7c00 runs as 0000:7c00,
 * 0x10000 as 1000:0000). */
#include <errno.h>

#include "hopvm/boot.h"
#include "hopvm/error.h"

#define REAL_MODE_LIMIT 0x100000ULL

int raw_load(struct guest_mem *mem, const uint8_t *image, size_t size, uint64_t load_addr,
	     struct boot_info *info)
{
	int ret;

	if (load_addr >= REAL_MODE_LIMIT)
		return err_set(-EINVAL, "--load-addr 0x%llx is beyond real mode's first MiB",
			       (unsigned long long)load_addr);
	ret = boot_check_placement(mem, load_addr, size, true, "raw image");
	if (ret < 0)
		return ret;
	if (guest_mem_write(mem, load_addr, image, size) < 0)
		return err_set(-EFAULT, "cannot write the raw image to guest memory");
	info->mode = BOOT_CPU_REAL;
	info->entry = load_addr;
	info->real_cs = (uint16_t)((load_addr >> 4) & 0xf000);
	return 0;
}
