/* The modern virtio PCI transport (virtio 1.x, section 4.1): a PCI function whose BAR 0 holds
 * the common configuration, the ISR byte, the device configuration, a notification address
 * per queue and the MSI-X table, each announced by a vendor capability.
 *
 * Each device has an I/O thread waiting on one eventfd per queue.  In a VM the eventfds are
 * KVM ioeventfds on the notification addresses, so a guest's kick wakes the thread without
 * leaving the kernel; a kick that still reaches hopvm (another access size, a unit test)
 * writes the same eventfd.  What the transport needs from the machine (ioeventfds, the INTx
 * line, MSI messages) comes through struct virtio_pci_platform. */
#ifndef HOPVM_VIRTIO_PCI_H
#define HOPVM_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hopvm/pci.h"
#include "hopvm/pci_msix.h"
#include "hopvm/virtio.h"

/* BAR 0's layout. */
#define VIRTIO_PCI_BAR_SIZE 0x8000
#define VIRTIO_PCI_COMMON 0x0000
#define VIRTIO_PCI_COMMON_LEN 0x38
#define VIRTIO_PCI_ISR 0x1000
#define VIRTIO_PCI_DEVICE_CFG 0x2000
#define VIRTIO_PCI_NOTIFY 0x3000
#define VIRTIO_PCI_NOTIFY_MULTIPLIER 4
#define VIRTIO_PCI_MSIX_TABLE 0x4000
#define VIRTIO_PCI_MSIX_PBA 0x5000

/* Common configuration fields (4.1.4.3). */
#define VIRTIO_PCI_DFSELECT 0x00
#define VIRTIO_PCI_DF 0x04
#define VIRTIO_PCI_GFSELECT 0x08
#define VIRTIO_PCI_GF 0x0c
#define VIRTIO_PCI_MSIX_CONFIG 0x10
#define VIRTIO_PCI_NUM_QUEUES 0x12
#define VIRTIO_PCI_STATUS 0x14
#define VIRTIO_PCI_CONFIG_GEN 0x15
#define VIRTIO_PCI_Q_SELECT 0x16
#define VIRTIO_PCI_Q_SIZE 0x18
#define VIRTIO_PCI_Q_MSIX 0x1a
#define VIRTIO_PCI_Q_ENABLE 0x1c
#define VIRTIO_PCI_Q_NOTIFY_OFF 0x1e
#define VIRTIO_PCI_Q_DESC 0x20
#define VIRTIO_PCI_Q_AVAIL 0x28
#define VIRTIO_PCI_Q_USED 0x30

/* What the transport offers besides a device's own features. */
#define VIRTIO_PCI_TRANSPORT_FEATURES                                                      \
	(VIRTIO_F(VIRTIO_F_VERSION_1) | VIRTIO_F(VIRTIO_F_INDIRECT_DESC) |               \
	 VIRTIO_F(VIRTIO_F_EVENT_IDX))

#define VIRTIO_PCI_ISR_QUEUE 1
#define VIRTIO_PCI_ISR_CONFIG 2

struct virtio_pci_platform {
	void *ctx;
	/* Starts (assign) or stops delivering 2-byte writes at gpa to fd.  NULL: none. */
	int (*ioeventfd)(void *ctx, uint64_t gpa, int fd, bool assign);
	/* Drives the INTx line. */
	void (*intx)(void *ctx, unsigned irq, int level);
	/* Sends an MSI through route (msi_base + vector). */
	void (*msi)(void *ctx, unsigned route, uint64_t addr, uint32_t data);
	unsigned msi_base;
	unsigned intx_irq;		/* the IOAPIC pin of the device's INTA# */
};

struct virtio_pci {
	struct pci_device pci;
	struct pci_msix msix;
	struct virtio_device *vd;
	struct virtio_pci_platform plat;

	/* Held by the I/O thread while it serves a queue, and by a vCPU for the common
	 * configuration: a pause that takes it knows no request is in flight. */
	pthread_mutex_t lock;
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	uint16_t msix_config;
	uint16_t queue_msix[VIRTIO_MAX_QUEUES];
	uint8_t config_generation;
	uint8_t isr;			/* under irq_lock, with the INTx level */
	bool intx_level;
	pthread_mutex_t irq_lock;
	bool broken_reported;		/* one message per reset for a broken ring, */
	bool misuse_reported;		/* and one for a refused access */
	unsigned reports;		/* messages in all, up to VIRTIO_PCI_MAX_REPORTS */

	int notify_fd[VIRTIO_MAX_QUEUES];
	uint64_t notify_base;		/* where the ioeventfds are, 0 if none */
	int wake_fd;			/* pause, resume and stop reach the thread here */
	unsigned pending;		/* queues notified while paused (bits) */
	unsigned io_index;		/* its I/O thread is "virtio-io N" */
	unsigned paused;		/* pauses not yet resumed: they nest */
	bool stopping, started;
	pthread_t thread;
};

/* Builds the PCI function for vd (not yet on a bus) and its eventfds.  Nothing runs yet. */
int virtio_pci_init(struct virtio_pci *vp, struct virtio_device *vd,
		    const struct virtio_pci_platform *plat) __attribute__((warn_unused_result));

/* Starts the I/O thread; virtio_pci_free() stops it. */
int virtio_pci_start(struct virtio_pci *vp) __attribute__((warn_unused_result));
void virtio_pci_free(struct virtio_pci *vp);

/* Returns once no request is in flight and none will start until the matching
 * virtio_pci_resume() (pauses nest). */
void virtio_pci_pause(struct virtio_pci *vp);
void virtio_pci_resume(struct virtio_pci *vp);

/* Serves every queue the driver notified, on the calling thread (the I/O thread's work, for
 * tests without threads). */
void virtio_pci_poll(struct virtio_pci *vp);

/* Migration: transport state, queues, MSI-X and the device's config bytes. */
int virtio_pci_save(struct virtio_pci *vp, struct state_buf *s);
int virtio_pci_load(struct virtio_pci *vp, struct state_buf *s);

#endif
