/* A virtio 1.x device model, as its transport (virtio_pci.h) sees it: the features it offers,
 * its configuration bytes, its queues, and what it does when the driver fills one.
 *
 * A device's queue handler runs on the device's own I/O thread, never on a vCPU's, with the
 * device's lock held: pop chains, serve them, push them back, ask for an interrupt.  It returns
 * -EIO with a message for a request it cannot even answer; the transport then puts the device
 * into DEVICE_NEEDS_RESET and says so once. */
#ifndef HOPVM_VIRTIO_H
#define HOPVM_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hopvm/device_state.h"
#include "hopvm/memory.h"
#include "hopvm/threads.h"
#include "hopvm/virtio_queue.h"

/* Device types (virtio 1.x, section 5) and their PCI device IDs (0x1040 + type). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_FS 26
#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040

/* Device status (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Transport features every hopvm device offers. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F(bit) (1ULL << (bit))

#define VIRTIO_MAX_QUEUES 4
#define VIRTIO_CONFIG_MAX 64

struct virtio_device;

struct virtio_device_ops {
	const char *name;		/* "virtio-blk": messages and the migration stream */
	uint16_t device_id;		/* VIRTIO_ID_* */
	uint32_t pci_class;
	unsigned nr_queues;
	/* The kind of its I/O thread, whose seccomp filter it runs under: 0 (no device runs on
	 * the main thread) means THREAD_VIRTIO_IO. */
	enum thread_kind io_thread;
	/* The driver made chains available on queue q (or the device was started). */
	int (*queue_notify)(struct virtio_device *vd, unsigned q);
	/* The driver wrote config[offset, offset + size) (NULL: the config is read-only). */
	void (*config_written)(struct virtio_device *vd, unsigned offset, unsigned size);
	/* Back to the state before the driver came (NULL: nothing of its own). */
	void (*reset)(struct virtio_device *vd);
	/* A file descriptor the I/O thread also waits on (input), or NULL; when it is readable
	 * the thread calls input_ready. */
	int (*input_fd)(struct virtio_device *vd);
	int (*input_ready)(struct virtio_device *vd);
	/* The device's own migration state, after the transport's (NULL: none).  load runs once
	 * the transport's state is in place (features, config bytes), checks every field against
	 * it and refuses what this device could not have been in. */
	int (*save)(struct virtio_device *vd, struct state_buf *s);
	int (*load)(struct virtio_device *vd, struct state_buf *s);
};

struct virtio_device {
	const struct virtio_device_ops *ops;
	void *priv;
	struct guest_mem *mem;
	uint64_t host_features;		/* the device's own; the transport adds its own bits */
	uint64_t guest_features;	/* what the driver accepted */
	uint8_t status;
	uint8_t config[VIRTIO_CONFIG_MAX];
	unsigned config_len;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	struct virtio_pci *transport;
};

/* Sets up the common part: no features accepted, queues reset. */
void virtio_device_init(struct virtio_device *vd, const struct virtio_device_ops *ops,
			void *priv, struct guest_mem *mem, uint64_t features, unsigned config_len);

/* Called by a device after pushing to queue q: interrupts the driver if it wants one. */
void virtio_queue_interrupt(struct virtio_device *vd, unsigned q);

/* The transport's lock, held around a queue handler and the driver's configuration accesses:
 * code outside the I/O thread that edits vd->config takes it. */
void virtio_device_lock(struct virtio_device *vd);
void virtio_device_unlock(struct virtio_device *vd);

/* With that lock held, after the device changed its configuration bytes: a new configuration
 * generation and a configuration-change interrupt (ISR bit 2, or the msix_config vector). */
void virtio_config_changed(struct virtio_device *vd);

/* A queue handler's usual loop: calls serve on each chain of q until the queue is empty, with
 * the notification re-armed before giving up.  serve returns the bytes it wrote into the
 * chain (pushed with it), or -EIO to stop with the ring broken. */
int virtio_queue_serve(struct virtio_device *vd, unsigned q,
		       int (*serve)(struct virtio_device *vd, struct virtq_chain *c));

#endif
