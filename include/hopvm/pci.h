/* PCI configuration space, by configuration mechanism #1 (ports 0xcf8 address, 0xcfc-0xcff
 * data), for the devices on bus 0.
 *
 * A pci_device is its 256-byte configuration space with a write mask beside it, so what a
 * guest may change is data, not code: read-only fields stay as the device set them.  BARs
 * answer the sizing protocol (write all-ones, read back the size mask).  Only function 0 of
 * each slot exists; a read of anything else returns all-ones, as an empty slot does. */
#ifndef HOPVM_PCI_H
#define HOPVM_PCI_H

#include <stdint.h>

#include "hopvm/device.h"

#define PCI_CONFIG_PORT 0xcf8
#define PCI_CONFIG_NR_PORTS 8
#define PCI_CONFIG_SPACE 256
#define PCI_SLOTS 32
#define PCI_BARS 6

/* Registers of the type 0 header that hopvm sets. */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_CLASS_REVISION 0x08
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400

#define PCI_BAR_IO 0x1	/* bit 0 of an I/O BAR; memory BARs have it clear */

struct pci_device {
	const char *name;
	uint8_t config[PCI_CONFIG_SPACE];
	uint8_t wmask[PCI_CONFIG_SPACE];	/* a 1 bit: the guest may write it */
	uint32_t bar_size[PCI_BARS];		/* 0: no BAR there */
};

struct pci_bus {
	uint32_t config_address;	/* the last dword written to 0xcf8 */
	struct pci_device *slots[PCI_SLOTS];
};

/* A type 0 header: IDs and class as given, the command register writable (I/O, memory, bus
 * master, INTx disable), the interrupt line writable, everything else read-only. */
void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision);

/* Gives BAR n a size (a power of two: at least 16 bytes for memory, 4 for I/O) and kind
 * (PCI_BAR_IO, or 0 for 32-bit memory).  -EINVAL for a bad size or index. */
int pci_device_set_bar(struct pci_device *dev, unsigned n, uint32_t size, uint32_t kind)
	__attribute__((warn_unused_result));

/* The address BAR n holds now (its low flag bits cleared). */
uint32_t pci_device_bar_address(const struct pci_device *dev, unsigned n);

void pci_bus_init(struct pci_bus *bus);

/* Puts dev in slot (0 to 31) of bus 0; -EEXIST if taken, -EINVAL past the last slot. */
int pci_bus_add(struct pci_bus *bus, unsigned slot, struct pci_device *dev)
	__attribute__((warn_unused_result));

/* Configuration space through a device's own offset, any size 1, 2 or 4 within a dword. */
uint32_t pci_config_read(const struct pci_device *dev, unsigned offset, unsigned size);
void pci_config_write(struct pci_device *dev, unsigned offset, unsigned size, uint32_t value);

/* Ports 0xcf8-0xcff, registered with a struct pci_bus. */
extern const struct device_ops pci_config_ops;

#endif
