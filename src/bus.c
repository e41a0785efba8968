#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/bus.h"
#include "hopvm/error.h"

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

void bus_free(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr_ranges = 0;
}

/* Index of the first range whose base is above addr. */
static size_t bus_upper_bound(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->nr_ranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct device_ops *ops,
		 void *dev)
{
	struct bus_range *grown;
	uint64_t last;
	size_t at;

	if (len == 0 || __builtin_add_overflow(base, len - 1, &last))
		return err_set(-EINVAL, "%s bus: %s: range 0x%llx+0x%llx is empty or wraps",
			       bus->name, ops->name, (unsigned long long)base,
			       (unsigned long long)len);
	at = bus_upper_bound(bus, base);
	if (at > 0) {
		const struct bus_range *prev = &bus->ranges[at - 1];

		if (prev->base + (prev->len - 1) >= base)
			return err_set(-EEXIST, "%s bus: %s at 0x%llx overlaps %s at 0x%llx",
				       bus->name, ops->name, (unsigned long long)base,
				       prev->ops->name, (unsigned long long)prev->base);
	}
	if (at < bus->nr_ranges && bus->ranges[at].base <= last)
		return err_set(-EEXIST, "%s bus: %s at 0x%llx overlaps %s at 0x%llx", bus->name,
			       ops->name, (unsigned long long)base, bus->ranges[at].ops->name,
			       (unsigned long long)bus->ranges[at].base);

	grown = realloc(bus->ranges, (bus->nr_ranges + 1) * sizeof(*grown));
	if (grown == NULL)
		return err_set(-ENOMEM, "%s bus: out of memory", bus->name);
	bus->ranges = grown;
	memmove(&grown[at + 1], &grown[at], (bus->nr_ranges - at) * sizeof(*grown));
	grown[at] = (struct bus_range){ .base = base, .len = len, .ops = ops, .dev = dev };
	bus->nr_ranges++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	size_t at = bus_upper_bound(bus, addr);
	const struct bus_range *r;

	if (at == 0)
		return NULL;
	r = &bus->ranges[at - 1];
	return addr - r->base < r->len ? r : NULL;
}

/* The range that holds all of [addr, addr + size), or NULL. */
static const struct bus_range *bus_find_access(const struct bus *bus, uint64_t addr,
					       unsigned size)
{
	const struct bus_range *r = bus_find(bus, addr);

	if (r == NULL || size == 0 || size > r->len - (addr - r->base))
		return NULL;
	return r;
}

int bus_read(const struct bus *bus, uint64_t addr, uint8_t *data, unsigned size)
{
	const struct bus_range *r = bus_find_access(bus, addr, size);
	int ret = -ENODEV;

	if (r != NULL)
		ret = r->ops->read ? r->ops->read(r->dev, addr - r->base, data, size) : -EPERM;
	if (ret < 0)
		memset(data, 0xff, size);
	return ret;
}

int bus_write(const struct bus *bus, uint64_t addr, const uint8_t *data, unsigned size)
{
	const struct bus_range *r = bus_find_access(bus, addr, size);

	if (r == NULL)
		return -ENODEV;
	return r->ops->write ? r->ops->write(r->dev, addr - r->base, data, size) : -EPERM;
}

bool bus_first_refusal(const struct bus *bus, uint64_t addr, const char **device)
{
	size_t at = bus_upper_bound(bus, addr);
	struct bus_range *r;

	if (at == 0)
		return false;
	r = &bus->ranges[at - 1];
	if (addr - r->base >= r->len)
		return false;
	*device = r->ops->name;
	return !__atomic_exchange_n(&r->refusal_reported, 1, __ATOMIC_RELAXED);
}

void bus_reset(const struct bus *bus)
{
	for (size_t i = 0; i < bus->nr_ranges; i++)
		if (bus->ranges[i].ops->reset)
			bus->ranges[i].ops->reset(bus->ranges[i].dev);
}
