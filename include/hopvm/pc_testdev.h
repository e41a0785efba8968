/* QEMU's pc-testdev: the ISA test device that test kernels written for QEMU (kvm-unit-tests
 * among them) expect at fixed addresses, behind hopvm run --test-devices.
 *
 *   ports 0xe0-0xe3  a 32-bit scratch register: what is written reads back, any access of 1, 2
 *                    or 4 bytes that stays inside it touching just its own bytes
 *   port 0xe4        page flush: a 4-byte write of a guest-physical address takes write
 *                    access to that page of guest RAM from hopvm's mapping for a moment and
 *                    gives it back, so that KVM's MMU notifiers run and drop KVM's mapping
 *                    of it; the page keeps its contents.  Reads give 0.
 *   ports 0xe8-0xeb  the same scratch register again (QEMU reaches it byte by byte there)
 *   ports 0x2000-0x2017  one byte each: writing V to 0x2000 + n sets ISA/IOAPIC line n to
 *                    V != 0 through set_irq; a 2- or 4-byte write is split into bytes at
 *                    consecutive ports, as QEMU's memory core splits it; reads give 0
 *   MMIO 0xff000000  64 KiB of storage that acts as RAM but is reached by MMIO exits
 *
 * Registered as three ranges: pc_testdev_ops on the ports at PC_TESTDEV_PORT (it carries the
 * state, scratch value and window, for migration and reset), pc_testdev_irq_ops on the IRQ
 * ports, pc_testdev_iomem_ops on the window.  A mutex makes it safe from several vCPUs. */
#ifndef HOPVM_PC_TESTDEV_H
#define HOPVM_PC_TESTDEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hopvm/device.h"
#include "hopvm/memory.h"

#define PC_TESTDEV_PORT 0xe0
#define PC_TESTDEV_NR_PORTS 12
#define PC_TESTDEV_SCRATCH 0x0		/* offsets from PC_TESTDEV_PORT */
#define PC_TESTDEV_FLUSH 0x4
#define PC_TESTDEV_SCRATCH_BYTES 0x8
#define PC_TESTDEV_IRQ_PORT 0x2000
#define PC_TESTDEV_NR_IRQS 24
#define PC_TESTDEV_IOMEM_BASE 0xff000000ULL
#define PC_TESTDEV_IOMEM_SIZE 0x10000

struct pc_testdev {
	pthread_mutex_t lock;
	uint32_t scratch;
	uint8_t iomem[PC_TESTDEV_IOMEM_SIZE];

	struct guest_mem *mem;	/* the RAM a page flush reaches */
	void (*set_irq)(void *ctx, unsigned line, int level);
	/* Called with true before a page flush and false after: while the page is read-only,
	 * no thread of hopvm's may write it (a device's I/O thread would fault).  May be NULL. */
	void (*quiesce)(void *ctx, bool quiet);
	void *ctx;
};

void pc_testdev_init(struct pc_testdev *td, struct guest_mem *mem,
		     void (*set_irq)(void *ctx, unsigned line, int level),
		     void (*quiesce)(void *ctx, bool quiet), void *ctx);
void pc_testdev_destroy(struct pc_testdev *td);

/* The page flush on its own: -EFAULT (with a message) unless the 4 KiB page holding gpa is
 * guest RAM, -errno if the host refused to change the mapping. */
int pc_testdev_flush_page(struct pc_testdev *td, uint64_t gpa)
	__attribute__((warn_unused_result));

extern const struct device_ops pc_testdev_ops;
extern const struct device_ops pc_testdev_irq_ops;
extern const struct device_ops pc_testdev_iomem_ops;

#endif
