#include <errno.h>
#include <string.h>

#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/pci.h"

#define CONFIG_ENABLE (1U << 31)
#define CONFIG_BUS(a) (((a) >> 16) & 0xff)
#define CONFIG_SLOT(a) (((a) >> 11) & 0x1f)
#define CONFIG_FUNCTION(a) (((a) >> 8) & 0x7)
#define CONFIG_REGISTER(a) ((a) & 0xfc)

static void set_wmask(struct pci_device *dev, unsigned offset, unsigned len, uint32_t mask)
{
	for (unsigned i = 0; i < len; i++)
		dev->wmask[offset + i] = (uint8_t)(mask >> (8 * i));
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
	set_wmask(dev, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
		  PCI_COMMAND_INTX_DISABLE);
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
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
	set_wmask(dev, PCI_BAR0 + 4 * n, 4, ~(size - 1));
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
}

int pci_bus_add(struct pci_bus *bus, unsigned slot, struct pci_device *dev)
{
	if (slot >= PCI_SLOTS)
		return err_set(-EINVAL, "PCI slot %u: bus 0 has slots 0 to %u", slot, PCI_SLOTS - 1);
	if (bus->slots[slot] != NULL)
		return err_set(-EEXIST, "PCI slot %u holds %s already, not %s too", slot,
			       bus->slots[slot]->name, dev->name);
	bus->slots[slot] = dev;
	return 0;
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

/* Offset 0-3 is the address register, which only dword accesses reach; 4-7 the data window
 * onto the addressed dword (the bus refuses an access that runs past it). */
static int pci_config_port_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	struct pci_device *dev;
	uint32_t v = UINT32_MAX;

	if (offset < 4) {
		if (offset != 0 || size != 4)
			return -EINVAL;
		le32_put(data, bus->config_address);
		return 0;
	}
	dev = addressed_device(bus);
	if (dev != NULL)
		v = pci_config_read(dev, CONFIG_REGISTER(bus->config_address) + (unsigned)offset - 4,
				    size);
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
	if (offset < 4) {
		if (offset != 0 || size != 4)
			return -EINVAL;
		bus->config_address = v & ~0x7f000003U;	/* reserved bits read as zero */
		return 0;
	}
	dev = addressed_device(bus);
	if (dev != NULL)
		pci_config_write(dev, CONFIG_REGISTER(bus->config_address) + (unsigned)offset - 4,
				 size, v);
	return 0;
}

const struct device_ops pci_config_ops = {
	.name = "pci-config",
	.read = pci_config_port_read,
	.write = pci_config_port_write,
};
