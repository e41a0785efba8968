/* PCI configuration space, by configuration mechanism #1 (ports 0xcf8 address, 0xcfc-0xcff
 * data), for the devices on bus 0.
 *
 * A pci_device is its 256-byte configuration space with a write mask beside it, so what a
 * guest may change is data, not code: read-only fields stay as the device set them.  BARs
 * answer the sizing protocol (write all-ones, read back the size mask).  Only function 0 of
 * each slot exists; a read of anything else returns all-ones, as an empty slot does. */
#ifndef HOPVM_PCI_H
#define HOPVM_PCI_H

#include <pthread.h>
#include <stdint.h>

#include "hopvm/device.h"
#include "hopvm/device_state.h"

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
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400

#define PCI_STATUS_CAP_LIST 0x10

#define PCI_BAR_IO 0x1	/* bit 0 of an I/O BAR; memory BARs have it clear */

#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VENDOR 0x09
#define PCI_CAP_FIRST 0x40	/* capabilities follow the type 0 header */

/* Where hopvm places the devices' memory BARs: in the 32-bit MMIO hole, below the IOAPIC. */
#define PCI_MMIO_WINDOW_BASE 0xe0000000ULL
#define PCI_MMIO_WINDOW_SIZE 0x10000000ULL
/* And their I/O BARs: the top quarter of the port space, where PC firmware puts them. */
#define PCI_IO_WINDOW_BASE 0xc000
#define PCI_IO_WINDOW_SIZE 0x4000

struct pci_device;

/* What a device does beyond its configuration space.  NULL members: nothing to do. */
struct pci_device_ops {
	/* An access to BAR n (memory or I/O), at offset from its start. */
	int (*bar_read)(struct pci_device *dev, unsigned n, uint64_t offset, uint8_t *data,
			unsigned size);
	int (*bar_write)(struct pci_device *dev, unsigned n, uint64_t offset,
			 const uint8_t *data, unsigned size);
	/* After the guest wrote [offset, offset + size) of the configuration space (the new
	 * value is in dev->config): the command register, a BAR or a capability. */
	void (*config_written)(struct pci_device *dev, unsigned offset, unsigned size);
	/* Before a read of [offset, offset + size): a capability that is a window. */
	void (*config_reading)(struct pci_device *dev, unsigned offset, unsigned size);
	/* The machine was reset: the configuration space is back as pci_bus_add() left it. */
	void (*reset)(struct pci_device *dev);
	/* Migration of what lies beyond the configuration space (which the bus saves). */
	int (*save)(struct pci_device *dev, struct state_buf *s);
	int (*load)(struct pci_device *dev, struct state_buf *s);
};

struct pci_device {
	const char *name;
	const struct pci_device_ops *ops;
	void *owner;				/* the device model this header belongs to */
	uint8_t config[PCI_CONFIG_SPACE];
	uint8_t wmask[PCI_CONFIG_SPACE];	/* a 1 bit: the guest may write it */
	uint8_t reset_config[PCI_CONFIG_SPACE];	/* as pci_bus_add() left it */
	uint32_t bar_size[PCI_BARS];		/* 0: no BAR there */
	uint8_t next_cap;			/* where pci_device_add_cap() puts the next one */
	uint8_t last_cap;			/* the list's tail, 0 while empty */
};

/* Bus 0.  The lock orders configuration cycles from several vCPUs (0xcf8 is one latch) and
 * keeps BAR lookups whole; a device's own handlers run outside it. */
struct pci_bus {
	pthread_mutex_t lock;
	uint32_t config_address;	/* the last dword written to 0xcf8 */
	struct pci_device *slots[PCI_SLOTS];
	uint64_t next_bar;		/* the window's first free address */
	uint64_t next_io_bar;		/* the I/O window's first free port */
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

/* Appends a capability of len bytes (its ID and next pointer included) to the list and
 * returns its offset; the bytes after the first two are the caller's to fill and to make
 * writable.  -ENOSPC when the configuration space is full. */
int pci_device_add_cap(struct pci_device *dev, uint8_t id, unsigned len)
	__attribute__((warn_unused_result));

/* Marks [offset, offset + len) writable by the guest (mask bits, little-endian). */
void pci_device_set_wmask(struct pci_device *dev, unsigned offset, unsigned len, uint32_t mask);

void pci_bus_init(struct pci_bus *bus);
void pci_bus_free(struct pci_bus *bus);

/* Puts dev in slot (0 to 31) of bus 0 and gives its BARs addresses in the MMIO or I/O window
 * (each aligned to its size), as firmware would.  -EEXIST if the slot is taken, -EINVAL past
 * the last slot, -ENOSPC when a window is full. */
int pci_bus_add(struct pci_bus *bus, unsigned slot, struct pci_device *dev)
	__attribute__((warn_unused_result));

/* The first free slot after the host bridge's, or -ENOSPC. */
int pci_bus_free_slot(const struct pci_bus *bus);

/* Configuration space through a device's own offset, any size 1, 2 or 4 within a dword. */
uint32_t pci_config_read(const struct pci_device *dev, unsigned offset, unsigned size);
void pci_config_write(struct pci_device *dev, unsigned offset, unsigned size, uint32_t value);

/* Ports 0xcf8-0xcff, registered with a struct pci_bus. */
extern const struct device_ops pci_config_ops;

/* The MMIO window, registered with a struct pci_bus at PCI_MMIO_WINDOW_BASE: an access goes
 * to the memory BAR holding it, of a device whose memory decoding is on. */
extern const struct device_ops pci_mmio_window_ops;

/* The I/O window, registered with a struct pci_bus at PCI_IO_WINDOW_BASE on the port bus: an
 * access goes to the I/O BAR holding it, of a device whose I/O decoding is on. */
extern const struct device_ops pci_io_window_ops;

/* The host bridge in slot 0 that tells a guest's PCI probe a bus is here. */
void pci_host_bridge_init(struct pci_device *dev);

#endif
