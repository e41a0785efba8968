/* The PC's i8042 keyboard controller, with an AT keyboard and no mouse, as pure logic.
 *
 * Just complete enough for Linux to probe it and to reset the machine through it (the
 * i8042 of Firecracker and kvmtool are as small).  It is registered once at port 0x60 with
 * I8042_NR_PORTS ports: offset 0 is the data port (0x60), offset 4 the status and command
 * port (0x64); offsets 1 to 3 belong to other chips and are refused.
 *
 * Bytes for the guest wait in an output buffer; the keyboard interrupt (IRQ 1 on a PC) goes
 * out through the irq callback as an edge, level 1 then 0, whenever a byte reaches the head
 * of that buffer while the command byte enables it.  A request to reset the CPU (command
 * 0xfe, or an output port written with bit 0 clear) calls reset_cpu, outside the lock, so
 * the callback may reset or destroy the device.  The aux port answers its tests as a
 * controller with nothing plugged in, so Linux gives up on a mouse without waiting for
 * timeouts.  A mutex inside makes it safe to use from several vCPU threads. */
#ifndef HOPVM_I8042_H
#define HOPVM_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hopvm/device.h"

#define I8042_NR_PORTS 5
#define I8042_BUFFER_SIZE 16

struct i8042 {
	pthread_mutex_t lock;

	uint8_t ctr;		/* the command byte */
	uint8_t outport;	/* bit 0 is the CPU reset line (active low), bit 1 the A20 gate */
	uint8_t pending_cmd;	/* a controller command waiting for its data byte, or 0 */
	uint8_t kbd_pending;	/* a keyboard command waiting for its argument byte, or 0 */
	uint8_t scan_set;
	bool last_was_cmd;	/* status bit 3: the last write went to the command port */

	uint8_t out[I8042_BUFFER_SIZE];
	unsigned out_head, out_count;
	uint8_t last_out;	/* what a read of the empty buffer returns again */

	void (*irq)(void *ctx, int level);
	void (*reset_cpu)(void *ctx);
	void *ctx;
};

/* Either callback may be NULL.  The controller starts in its power-on state. */
void i8042_init(struct i8042 *kbd, void (*irq)(void *ctx, int level),
		void (*reset_cpu)(void *ctx), void *ctx);
void i8042_destroy(struct i8042 *kbd);

int i8042_read(void *dev, uint64_t offset, uint8_t *data, unsigned size);
int i8042_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size);
void i8042_reset(void *dev);
int i8042_save(void *dev, uint8_t *buf, size_t len);
int i8042_load(void *dev, const uint8_t *buf, size_t len);

extern const struct device_ops i8042_ops;

#endif
