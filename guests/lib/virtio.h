/* A polled virtio 1.x driver's transport for guests: finds a device on PCI bus 0 by its
 * capabilities, brings it up, and hands out split queues of VQ_SIZE entries. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

/* The common configuration (virtio 1.x, 4.1.4.3). */
#define VIRTIO_DFSELECT 0x00
#define VIRTIO_DF 0x04
#define VIRTIO_GFSELECT 0x08
#define VIRTIO_GF 0x0c
#define VIRTIO_MSIX_CONFIG 0x10
#define VIRTIO_STATUS 0x14
#define VIRTIO_Q_SELECT 0x16
#define VIRTIO_Q_SIZE 0x18
#define VIRTIO_Q_MSIX 0x1a
#define VIRTIO_Q_ENABLE 0x1c
#define VIRTIO_Q_NOTIFY_OFF 0x1e
#define VIRTIO_Q_DESC 0x20
#define VIRTIO_Q_AVAIL 0x28
#define VIRTIO_Q_USED 0x30

#define VIRTIO_S_ACKNOWLEDGE 1
#define VIRTIO_S_DRIVER 2
#define VIRTIO_S_DRIVER_OK 4
#define VIRTIO_S_FEATURES_OK 8
#define VIRTIO_S_NEEDS_RESET 0x40

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_VERSION_1 32

#define VQ_DESC_NEXT 1
#define VQ_DESC_WRITE 2
#define VQ_DESC_INDIRECT 4

#define VQ_SIZE 16

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct vq {
	struct vq_desc desc[VQ_SIZE];
	struct {
		uint16_t flags, idx, ring[VQ_SIZE], used_event;
	} avail;
	struct {
		uint16_t flags, idx;
		struct {
			uint32_t id, len;
		} ring[VQ_SIZE];
		uint16_t avail_event;
	} used __attribute__((aligned(4)));
	uint16_t last_used;
	volatile uint16_t *notify;
	uint16_t index;
} __attribute__((aligned(16)));

struct virtio_dev {
	unsigned slot;
	uintptr_t bar, common, isr, device_cfg, notify_base;
	uint32_t notify_mult;
};

/* Finds the device (PCI ID register: device << 16 | vendor) and its regions in BAR 0, and
 * turns on memory decoding and bus mastering.  false if it is not there. */
bool virtio_find(struct virtio_dev *d, uint32_t vendor_device);

/* Resets the device and negotiates: VERSION_1 and whichever of the wanted features it
 * offers (in *features).  false if it refuses FEATURES_OK.  Queues come next, then
 * virtio_driver_ok(). */
bool virtio_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t *features);

/* Gives queue index the memory of q (VQ_SIZE entries, emptied) and enables it. */
void virtio_queue_setup(struct virtio_dev *d, struct vq *q, uint16_t index);
void virtio_driver_ok(struct virtio_dev *d);

/* Puts the chain at head in the available ring and notifies the device. */
void vq_make_available(struct vq *q, uint16_t head);
/* Waits up to about a second of TSC for the next used entry: its length, or -1. */
long vq_wait_used(struct vq *q);

static inline volatile uint8_t *virtio_c8(const struct virtio_dev *d, unsigned off)
{
	return (volatile uint8_t *)(d->common + off);
}

static inline volatile uint16_t *virtio_c16(const struct virtio_dev *d, unsigned off)
{
	return (volatile uint16_t *)(d->common + off);
}

static inline volatile uint32_t *virtio_c32(const struct virtio_dev *d, unsigned off)
{
	return (volatile uint32_t *)(d->common + off);
}

static inline void virtio_c64(const struct virtio_dev *d, unsigned off, uint64_t v)
{
	*virtio_c32(d, off) = (uint32_t)v;
	*virtio_c32(d, off + 4) = (uint32_t)(v >> 32);
}

#endif
