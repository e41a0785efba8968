/* The isa-debug-exit device of QEMU, at port 0xf4: a guest write of V asks to end the VM.
 * What status V becomes (V, or QEMU's (V << 1) | 1) is the owner's choice, made in the
 * on_exit callback. */
#ifndef HOPVM_DEBUG_EXIT_H
#define HOPVM_DEBUG_EXIT_H

#include <stdint.h>

#include "hopvm/device.h"

#define DEBUG_EXIT_NR_PORTS 4	/* QEMU's iosize may be 1, 2 or 4 */

struct debug_exit {
	void (*on_exit)(void *ctx, uint32_t value);
	void *ctx;
};

void debug_exit_init(struct debug_exit *dbg, void (*on_exit)(void *ctx, uint32_t value),
		     void *ctx);
int debug_exit_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size);

extern const struct device_ops debug_exit_ops;

#endif
