#include "hopvm/boot.h"
#include "hopvm/x86.h"

int boot_load_image(struct guest_mem *mem, const struct boot_image *image,
		    struct boot_info *info)
{
	int ret = x86_write_boot_tables(mem);

	if (ret < 0)
		return ret;
	return elf64_load(mem, image->data, image->size, &info->entry);
}
