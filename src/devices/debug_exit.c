#include <errno.h>

#include "hopvm/debug_exit.h"

void debug_exit_init(struct debug_exit *dbg, void (*on_exit)(void *ctx, uint32_t value),
		     void *ctx)
{
	dbg->on_exit = on_exit;
	dbg->ctx = ctx;
}

int debug_exit_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size)
{
	struct debug_exit *dbg = dev;
	uint32_t value = 0;

	/* Only an access at the base port counts, as in QEMU. */
	if (offset != 0 || (size != 1 && size != 2 && size != 4))
		return -EINVAL;
	for (unsigned i = 0; i < size; i++)
		value |= (uint32_t)data[i] << (8 * i);
	dbg->on_exit(dbg->ctx, value);
	return 0;
}

const struct device_ops debug_exit_ops = {
	.name = "debug-exit",
	.write = debug_exit_write,
};
