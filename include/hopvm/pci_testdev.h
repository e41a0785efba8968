/* QEMU's pci-testdev (vendor 0x1b36, device 0x0005), behind hopvm run --test-devices: a PCI
 * function whose two BARs, 4 KiB of memory (BAR 0) and 256 I/O ports (BAR 1), each start with
 * a test table that kvm-unit-tests' lib/pci-testdev.c walks.
 *
 * Writing n to byte 0 of BAR 0 selects memory test n, of BAR 1 port I/O test n (0 to 2; any
 * other value selects none) and zeroes its count.  The selected test's header then reads
 * back, byte by byte, from the start of either BAR (all zeros while none is selected):
 *   0  u8  test number (0 to 5: memory tests, then port I/O tests)
 *   1  u8  access width (1)
 *   4  u32 offset of the test's address in its BAR
 *   8  u8  data to write there
 *   12 u32 count of the writes the device saw
 *   16     name, NUL-terminated: "mmio-no-eventfd", "mmio-wildcard-eventfd",
 *          "mmio-datamatch-eventfd", then the same three as "portio-..."
 * A write reaches the device one byte at a time, as QEMU splits it; a byte at the selected
 * test's offset counts when it is the test's data, or always for the wildcard tests.
 *
 * As in QEMU, the two eventfd tests' own writes (one byte at the address, in the test's BAR,
 * with its data but for the wildcard test) go to an ioeventfd there and are not counted:
 * those tests read back 0, and only other writes that reach the address count.  hopvm
 * decides this in the exit, with no eventfd, and the guest sees the same values.
 * kvm-unit-tests accepts a count of 0 or of every write. */
#ifndef HOPVM_PCI_TESTDEV_H
#define HOPVM_PCI_TESTDEV_H

#include <pthread.h>
#include <stdint.h>

#include "hopvm/pci.h"

#define PCI_TESTDEV_VENDOR 0x1b36
#define PCI_TESTDEV_DEVICE 0x0005
#define PCI_TESTDEV_CLASS 0x00ff00	/* unclassified, subclass 0xff: QEMU's "other" */
#define PCI_TESTDEV_MEM_BAR 0
#define PCI_TESTDEV_IO_BAR 1
#define PCI_TESTDEV_MEM_SIZE 4096
#define PCI_TESTDEV_IO_SIZE 256
#define PCI_TESTDEV_TESTS_PER_BAR 3
#define PCI_TESTDEV_NR_TESTS (2 * PCI_TESTDEV_TESTS_PER_BAR)
#define PCI_TESTDEV_NONE 0xff		/* no test selected */

/* Header offsets. */
#define PCI_TESTDEV_HDR_TEST 0
#define PCI_TESTDEV_HDR_WIDTH 1
#define PCI_TESTDEV_HDR_OFFSET 4
#define PCI_TESTDEV_HDR_DATA 8
#define PCI_TESTDEV_HDR_COUNT 12
#define PCI_TESTDEV_HDR_NAME 16

struct pci_testdev {
	struct pci_device pci;
	pthread_mutex_t lock;	/* BAR accesses come from several vCPUs, outside the bus lock */
	uint8_t current;	/* the selected test, or PCI_TESTDEV_NONE */
	uint32_t count[PCI_TESTDEV_NR_TESTS];
};

/* The configuration space and BARs; pci_bus_add() then places the BARs. */
int pci_testdev_init(struct pci_testdev *td) __attribute__((warn_unused_result));
void pci_testdev_destroy(struct pci_testdev *td);

#endif
