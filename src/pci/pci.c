#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hopvm/device_state.h"
#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/pci.h"

#define CONFIG_ENABLE (1U << 31)
#define CONFIG_BUS(a) (((a) >> 16) & 0xff)
#define CONFIG_SLOT(a) (((a) >> 11) & 0x1f)
#define CONFIG_FUNCTION(a) (((a) >> 8) & 0x7)
#define CONFIG_REGISTER(a) ((a) & 0xfc)

void pci_device_set_wmask(struct pci_device *dev, unsigned offset, unsigned len, uint32_t mask)
{
	for (unsigned i = 0; i < len && offset + i < PCI_CONFIG_SPACE; i++)
		dev->wmask[offset + i] = (uint8_t)(mask >> (8 * (i % 4)));
}

void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision)
{
	memset(dev, 0, sizeof(*dev));
	dev->name = name;
	le16_put(dev->config + PCI_VENDOR_ID, vendor);
	le16_put(dev->config + PCI_DEVICE_ID, device);
	dev->config[PCI_CLASS_REVISION] = revision;
	dev->config[PCI_CLASS_REVISION + 1] = (uint8_t)class_code;
	dev->config[PCI_CLASS_REVISION + 2] = (uint8_t)(class_code >> 8);
	dev->config[PCI_CLASS_REVISION + 3] = (uint8_t)(class_code >> 16);
	pci_device_set_wmask(dev, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
		  PCI_COMMAND_INTX_DISABLE);
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	dev->next_cap = PCI_CAP_FIRST;
}

int pci_device_add_cap(struct pci_device *dev, uint8_t id, unsigned len)
{
	unsigned at = dev->next_cap;

	if (len < 2 || at == 0 || at + len > PCI_CONFIG_SPACE)
		return err_set(-ENOSPC, "PCI device %s: no room for a capability of %u bytes",
			       dev->name, len);
	dev->config[at] = id;
	dev->config[at + 1] = 0;
	if (dev->last_cap == 0)
		dev->config[PCI_CAPABILITY_LIST] = (uint8_t)at;
	else
		dev->config[dev->last_cap + 1] = (uint8_t)at;
	dev->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->last_cap = (uint8_t)at;
	at = (at + len + 3) & ~3U;	/* capabilities are dword-aligned */
	dev->next_cap = at < PCI_CONFIG_SPACE ? (uint8_t)at : 0;
	return dev->last_cap;
}

int pci_device_set_bar(struct pci_device *dev, unsigned n, uint32_t size, uint32_t kind)
{
	uint32_t min = kind == PCI_BAR_IO ? 4 : 16;

	if (n >= PCI_BARS || size < min || (size & (size - 1)) != 0 ||
	    (kind != 0 && kind != PCI_BAR_IO))
		return err_set(-EINVAL, "PCI device %s: BAR %u of %u bytes (%s) is not a power of "
			       "two of at least %u", dev->name, n, size, kind ? "I/O" : "memory",
			       min);
	dev->bar_size[n] = size;
	le32_put(dev->config + PCI_BAR0 + 4 * n, kind);
	/* The sizing protocol: the address bits above the size are the guest's. */
	pci_device_set_wmask(dev, PCI_BAR0 + 4 * n, 4, ~(size - 1));
	return 0;
}

uint32_t pci_device_bar_address(const struct pci_device *dev, unsigned n)
{
	uint32_t v = le32_get(dev->config + PCI_BAR0 + 4 * n);

	return v & (v & PCI_BAR_IO ? ~0x3U : ~0xfU);
}

void pci_bus_init(struct pci_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	pthread_mutex_init(&bus->lock, NULL);
	bus->next_bar = PCI_MMIO_WINDOW_BASE;
	bus->next_io_bar = PCI_IO_WINDOW_BASE;
}

void pci_bus_free(struct pci_bus *bus)
{
	pthread_mutex_destroy(&bus->lock);
}

int pci_bus_add(struct pci_bus *bus, unsigned slot, struct pci_device *dev)
{
	uint64_t next = bus->next_bar, next_io = bus->next_io_bar;

	if (slot >= PCI_SLOTS)
		return err_set(-EINVAL, "PCI slot %u: bus 0 has slots 0 to %u", slot, PCI_SLOTS - 1);
	if (bus->slots[slot] != NULL)
		return err_set(-EEXIST, "PCI slot %u holds %s already, not %s too", slot,
			       bus->slots[slot]->name, dev->name);
	for (unsigned n = 0; n < PCI_BARS; n++) {
		uint32_t size = dev->bar_size[n];

		if (size == 0)
			continue;
		if (dev->config[PCI_BAR0 + 4 * n] & PCI_BAR_IO) {
			next_io = (next_io + size - 1) & ~(uint64_t)(size - 1);
			if (next_io + size > PCI_IO_WINDOW_BASE + PCI_IO_WINDOW_SIZE)
				return err_set(-ENOSPC, "PCI device %s: no room for BAR %u in the I/O "
					       "window", dev->name, n);
			le32_put(dev->config + PCI_BAR0 + 4 * n, (uint32_t)next_io | PCI_BAR_IO);
			next_io += size;
			continue;
		}
		next = (next + size - 1) & ~(uint64_t)(size - 1);
		if (next + size > PCI_MMIO_WINDOW_BASE + PCI_MMIO_WINDOW_SIZE)
			return err_set(-ENOSPC, "PCI device %s: no room for BAR %u in the MMIO window",
				       dev->name, n);
		le32_put(dev->config + PCI_BAR0 + 4 * n, (uint32_t)next);
		next += size;
	}
	bus->next_bar = next;
	bus->next_io_bar = next_io;
	memcpy(dev->reset_config, dev->config, sizeof(dev->config));
	bus->slots[slot] = dev;
	return 0;
}

int pci_bus_free_slot(const struct pci_bus *bus)
{
	for (unsigned slot = 1; slot < PCI_SLOTS; slot++)
		if (bus->slots[slot] == NULL)
			return (int)slot;
	return err_set(-ENOSPC, "PCI bus 0 has no free slot");
}

uint32_t pci_config_read(const struct pci_device *dev, unsigned offset, unsigned size)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < size && offset + i < PCI_CONFIG_SPACE; i++)
		v |= (uint32_t)dev->config[offset + i] << (8 * i);
	return v;
}

void pci_config_write(struct pci_device *dev, unsigned offset, unsigned size, uint32_t value)
{
	for (unsigned i = 0; i < size && offset + i < PCI_CONFIG_SPACE; i++) {
		uint8_t mask = dev->wmask[offset + i], byte = (uint8_t)(value >> (8 * i));

		dev->config[offset + i] = (uint8_t)((dev->config[offset + i] & ~mask) | (byte & mask));
	}
}

/* The device the latched address names, or NULL (disabled, another bus or function, an
 * empty slot). */
static struct pci_device *addressed_device(const struct pci_bus *bus)
{
	uint32_t a = bus->config_address;

	if (!(a & CONFIG_ENABLE) || CONFIG_BUS(a) != 0 || CONFIG_FUNCTION(a) != 0)
		return NULL;
	return bus->slots[CONFIG_SLOT(a)];
}

/* Offset 0-3 is the address register, which only dword accesses reach: a narrower one reads
 * all-ones and writes nothing, as on QEMU's i440FX (Linux's type-1 probe writes a byte to
 * 0xcfb, and is no misuse); 4-7 the data window onto the addressed dword (the bus refuses an
 * access that runs past it). */
static int pci_config_port_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	struct pci_device *dev;
	uint32_t v = UINT32_MAX;

	if (offset < 4) {
		if (offset != 0 || size != 4)
			memset(data, 0xff, size);
		else
			le32_put(data, bus->config_address);
		return 0;
	}
	pthread_mutex_lock(&bus->lock);
	dev = addressed_device(bus);
	if (dev != NULL) {
		unsigned reg = CONFIG_REGISTER(bus->config_address) + (unsigned)offset - 4;

		if (dev->ops != NULL && dev->ops->config_reading != NULL)
			dev->ops->config_reading(dev, reg, size);
		v = pci_config_read(dev, reg, size);
	}
	pthread_mutex_unlock(&bus->lock);
	for (unsigned i = 0; i < size; i++)
		data[i] = (uint8_t)(v >> (8 * i));
	return 0;
}

static int pci_config_port_write(void *opaque, uint64_t offset, const uint8_t *data,
				 unsigned size)
{
	struct pci_bus *bus = opaque;
	struct pci_device *dev;
	uint32_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)data[i] << (8 * i);
	pthread_mutex_lock(&bus->lock);
	if (offset < 4) {
		if (offset == 0 && size == 4)
			bus->config_address = v & ~0x7f000003U;	/* reserved bits read as zero */
		pthread_mutex_unlock(&bus->lock);
		return 0;
	}
	dev = addressed_device(bus);
	if (dev != NULL) {
		unsigned reg = CONFIG_REGISTER(bus->config_address) + (unsigned)offset - 4;

		pci_config_write(dev, reg, size, v);
		if (dev->ops != NULL && dev->ops->config_written != NULL)
			dev->ops->config_written(dev, reg, size);
	}
	pthread_mutex_unlock(&bus->lock);
	return 0;
}

static void pci_bus_reset(void *opaque)
{
	struct pci_bus *bus = opaque;

	pthread_mutex_lock(&bus->lock);
	bus->config_address = 0;
	for (unsigned slot = 0; slot < PCI_SLOTS; slot++) {
		struct pci_device *dev = bus->slots[slot];

		if (dev == NULL)
			continue;
		memcpy(dev->config, dev->reset_config, sizeof(dev->config));
		if (dev->ops != NULL && dev->ops->reset != NULL)
			dev->ops->reset(dev);
	}
	pthread_mutex_unlock(&bus->lock);
}

/* The bus's state: the latch, then per device its slot, IDs, configuration space and what
 * its own save adds.  Devices are paused (vm_pause) while this runs. */
static int pci_bus_save(void *opaque, uint8_t *buf, size_t len)
{
	struct pci_bus *bus = opaque;
	struct state_buf s;
	int ret = 0;

	state_writer(&s, buf, len);
	pthread_mutex_lock(&bus->lock);
	state_put_u64(&s, bus->config_address);
	for (unsigned slot = 0; slot < PCI_SLOTS && ret == 0; slot++) {
		struct pci_device *dev = bus->slots[slot];

		if (dev == NULL)
			continue;
		state_put_u8(&s, (uint8_t)slot);
		state_put_u64(&s, le32_get(dev->config + PCI_VENDOR_ID));
		state_put_bytes(&s, dev->config, sizeof(dev->config));
		if (dev->ops != NULL && dev->ops->save != NULL)
			ret = dev->ops->save(dev, &s);
	}
	pthread_mutex_unlock(&bus->lock);
	return ret < 0 ? ret : state_saved(&s);
}

static int load_device(struct pci_device *dev, unsigned slot, struct state_buf *s)
{
	uint8_t config[PCI_CONFIG_SPACE];
	unsigned saved_slot = state_get_u8(s);
	uint64_t ids = state_get_u64(s);

	state_get_bytes(s, config, sizeof(config));
	if (s->short_buf)
		return err_set(-EINVAL, "pci-config: the saved state is cut short");
	if (saved_slot != slot || ids != le32_get(dev->config + PCI_VENDOR_ID))
		return err_set(-EINVAL, "pci-config: the source's slot %u holds another device than "
			       "%s (same devices on both sides?)", slot, dev->name);
	/* Only what the guest may write can differ; the rest is the device's identity. */
	for (unsigned i = 0; i < PCI_CONFIG_SPACE; i++)
		if ((config[i] ^ dev->config[i]) & ~dev->wmask[i])
			return err_set(-EINVAL, "%s: saved configuration byte 0x%x differs in a "
				       "read-only bit", dev->name, i);
	memcpy(dev->config, config, sizeof(config));
	if (dev->ops != NULL && dev->ops->load != NULL && dev->ops->load(dev, s) < 0)
		return -EINVAL;
	if (dev->ops != NULL && dev->ops->config_written != NULL)
		dev->ops->config_written(dev, PCI_COMMAND, 2);	/* decoding, INTx, ioeventfds */
	return 0;
}

static int pci_bus_load(void *opaque, const uint8_t *buf, size_t len)
{
	struct pci_bus *bus = opaque;
	struct state_buf s;
	uint64_t latch;
	int ret = 0;

	state_reader(&s, buf, len);
	latch = state_get_u64(&s);
	if (latch > UINT32_MAX || (latch & 0x7f000003U))
		return err_set(-EINVAL, "pci-config: saved address latch 0x%llx is malformed",
			       (unsigned long long)latch);
	pthread_mutex_lock(&bus->lock);
	for (unsigned slot = 0; slot < PCI_SLOTS && ret == 0; slot++)
		if (bus->slots[slot] != NULL)
			ret = load_device(bus->slots[slot], slot, &s);
	if (ret == 0)
		bus->config_address = (uint32_t)latch;
	pthread_mutex_unlock(&bus->lock);
	return ret < 0 ? ret : state_loaded(&s, "pci-config");
}

const struct device_ops pci_config_ops = {
	.name = "pci-config",
	.read = pci_config_port_read,
	.write = pci_config_port_write,
	.reset = pci_bus_reset,
	.state_version = 1,
	.save = pci_bus_save,
	.load = pci_bus_load,
};

/* The device and BAR of the kind asked for (I/O or memory) that decode addr now, or NULL. */
static struct pci_device *bar_holding(struct pci_bus *bus, uint64_t addr, unsigned size,
				      bool io, unsigned *bar, uint64_t *offset)
{
	uint16_t decode = io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
	struct pci_device *found = NULL;

	pthread_mutex_lock(&bus->lock);
	for (unsigned slot = 0; slot < PCI_SLOTS && found == NULL; slot++) {
		struct pci_device *dev = bus->slots[slot];

		if (dev == NULL || !(le16_get(dev->config + PCI_COMMAND) & decode))
			continue;
		for (unsigned n = 0; n < PCI_BARS; n++) {
			uint64_t base = pci_device_bar_address(dev, n);
			bool bar_io = (dev->config[PCI_BAR0 + 4 * n] & PCI_BAR_IO) != 0;

			if (dev->bar_size[n] == 0 || bar_io != io || addr < base ||
			    addr + size > base + dev->bar_size[n])
				continue;
			found = dev;
			*bar = n;
			*offset = addr - base;
			break;
		}
	}
	pthread_mutex_unlock(&bus->lock);
	return found;
}

/* A BAR's refusal names the device behind the window, for the one report hopvm makes. */
static int bar_refused(const struct pci_device *dev, unsigned bar, uint64_t offset, int ret)
{
	char why[256];

	if (ret >= 0 || ret == -ENODEV)
		return ret;
	snprintf(why, sizeof(why), "%s", err_msg());	/* err_set() writes over it */
	return err_set(ret, "%s, BAR %u offset 0x%llx%s%s", dev->name, bar,
		       (unsigned long long)offset, why[0] ? ": " : "", why);
}

/* An access in one of the windows, given to the BAR that holds it (io: the port window). */
static int window_read(struct pci_bus *bus, uint64_t addr, bool io, uint8_t *data,
		       unsigned size)
{
	uint64_t bar_offset;
	unsigned bar;
	struct pci_device *dev = bar_holding(bus, addr, size, io, &bar, &bar_offset);

	if (dev == NULL || dev->ops == NULL || dev->ops->bar_read == NULL)
		return -ENODEV;
	return bar_refused(dev, bar, bar_offset,
			   dev->ops->bar_read(dev, bar, bar_offset, data, size));
}

static int window_write(struct pci_bus *bus, uint64_t addr, bool io, const uint8_t *data,
			unsigned size)
{
	uint64_t bar_offset;
	unsigned bar;
	struct pci_device *dev = bar_holding(bus, addr, size, io, &bar, &bar_offset);

	if (dev == NULL || dev->ops == NULL || dev->ops->bar_write == NULL)
		return -ENODEV;
	return bar_refused(dev, bar, bar_offset,
			   dev->ops->bar_write(dev, bar, bar_offset, data, size));
}

static int pci_mmio_window_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
	return window_read(opaque, PCI_MMIO_WINDOW_BASE + offset, false, data, size);
}

static int pci_mmio_window_write(void *opaque, uint64_t offset, const uint8_t *data,
				 unsigned size)
{
	return window_write(opaque, PCI_MMIO_WINDOW_BASE + offset, false, data, size);
}

const struct device_ops pci_mmio_window_ops = {
	.name = "pci-mmio",
	.read = pci_mmio_window_read,
	.write = pci_mmio_window_write,
};

static int pci_io_window_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
	return window_read(opaque, PCI_IO_WINDOW_BASE + offset, true, data, size);
}

static int pci_io_window_write(void *opaque, uint64_t offset, const uint8_t *data,
			       unsigned size)
{
	return window_write(opaque, PCI_IO_WINDOW_BASE + offset, true, data, size);
}

const struct device_ops pci_io_window_ops = {
	.name = "pci-io",
	.read = pci_io_window_read,
	.write = pci_io_window_write,
};

/* Any IDs would do: Linux's probe (pci_sanity_check) wants a host bridge class on bus 0.
 * These are the ones QEMU's generic PCIe host bridge carries, so guests know the device. */
#define HOST_BRIDGE_VENDOR 0x1b36
#define HOST_BRIDGE_DEVICE 0x0008
#define PCI_CLASS_HOST_BRIDGE 0x060000

void pci_host_bridge_init(struct pci_device *dev)
{
	pci_device_init(dev, "pci-host-bridge", HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE,
			PCI_CLASS_HOST_BRIDGE, 0);
}
