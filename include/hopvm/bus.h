/* The I/O bus: address ranges mapped to devices.
 *
 * Port I/O and MMIO are two instances of the same bus.  Ranges are kept sorted so a lookup is a
 * binary search; registration refuses empty, wrapping and overlapping ranges.  The bus itself
 * holds no lock: it is filled before the vCPUs start and only read afterwards. */
#ifndef HOPVM_BUS_H
#define HOPVM_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hopvm/device.h"

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct device_ops *ops;
	void *dev;
	int refusal_reported;	/* set once the device's first refused access was reported */
};

struct bus {
	const char *name;	/* "pio" or "mmio", for messages */
	struct bus_range *ranges;
	size_t nr_ranges;
};

void bus_init(struct bus *bus, const char *name);
void bus_free(struct bus *bus);

/* Maps [base, base + len) to dev.  -EINVAL for an empty or wrapping range, -EEXIST if it
 * overlaps a registered one; err_msg() names both devices. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct device_ops *ops,
		 void *dev) __attribute__((warn_unused_result));

/* The range holding addr, or NULL. */
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

/* Dispatches an access of size bytes at addr.  An access that starts in no range, runs past
 * the end of its range, or that the device refuses returns a negative errno (-ENODEV when
 * nothing is mapped there); a refused read fills data with all-ones. */
int bus_read(const struct bus *bus, uint64_t addr, uint8_t *data, unsigned size);
int bus_write(const struct bus *bus, uint64_t addr, const uint8_t *data, unsigned size);

/* After an access the device at addr refused (a negative errno other than -ENODEV): true the
 * first time only, with its name in *device, so a guest that keeps misusing a device is
 * reported once, not once per access.  Safe from several vCPU threads at once. */
bool bus_first_refusal(const struct bus *bus, uint64_t addr, const char **device);

/* Calls every device's reset handler, in address order. */
void bus_reset(const struct bus *bus);

#endif
