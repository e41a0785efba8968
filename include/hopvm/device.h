/* A device model, as the I/O bus sees it.
 *
 * Handlers get the offset from the base the device was registered at, never the absolute
 * port or address, and the access size (1, 2, 4 or 8).  A handler returns 0, or a negative
 * errno to refuse the access: the guest then reads all-ones or its write is dropped, as on
 * real hardware when nothing answers.  A NULL handler refuses every access of that kind. */
#ifndef HOPVM_DEVICE_H
#define HOPVM_DEVICE_H

#include <stddef.h>
#include <stdint.h>

struct device_ops {
	const char *name;
	int (*read)(void *dev, uint64_t offset, uint8_t *data, unsigned size);
	int (*write)(void *dev, uint64_t offset, const uint8_t *data, unsigned size);
	void (*reset)(void *dev);	/* back to power-on state */

	/* Migration.  save writes the state, in format state_version, into buf and returns
	 * its length, or -ENOSPC if len is too small; load checks a saved state field by field
	 * and refuses (-EINVAL, with a message) one this device could never have been in,
	 * changing nothing then.  NULL for a device with no state. */
	uint32_t state_version;
	int (*save)(void *dev, uint8_t *buf, size_t len);
	int (*load)(void *dev, const uint8_t *buf, size_t len);
};

#endif
