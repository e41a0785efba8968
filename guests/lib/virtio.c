/* The virtio 1.x PCI transport from the driver's side, polled (virtio.h). */
#include "virtio.h"

#include "guest.h"
#include "x86.h"

#define WAIT_TICKS (1ULL << 30)	/* about a second of TSC */

/* The vendor capabilities say where the common configuration, notifications and device
 * configuration are in BAR 0. */
bool virtio_find(struct virtio_dev *d, uint32_t vendor_device)
{
	int slot = pci_find(vendor_device);

	*d = (struct virtio_dev){ 0 };
	if (slot < 0)
		return false;
	d->slot = (unsigned)slot;
	d->bar = pci_config_read(d->slot, 0x10) & ~0xfu;
	pci_config_write(d->slot, 0x04, pci_config_read(d->slot, 0x04) | 0x6);
	for (unsigned cap = pci_config_read(d->slot, 0x34) & 0xfc; cap != 0;) {
		uint32_t head = pci_config_read(d->slot, cap);
		uintptr_t at = d->bar + pci_config_read(d->slot, cap + 8);

		if ((head & 0xff) == 0x09) {
			switch (head >> 24) {
			case 1:
				d->common = at;
				break;
			case 2:
				d->notify_base = at;
				d->notify_mult = pci_config_read(d->slot, cap + 16);
				break;
			case 3:
				d->isr = at;
				break;
			case 4:
				d->device_cfg = at;
				break;
			}
		}
		cap = (head >> 8) & 0xfc;
	}
	return d->bar != 0 && d->common != 0 && d->notify_base != 0;
}

bool virtio_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t *features)
{
	uint64_t offered;

	*virtio_c8(d, VIRTIO_STATUS) = 0;
	*virtio_c8(d, VIRTIO_STATUS) = VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER;
	*virtio_c32(d, VIRTIO_DFSELECT) = 0;
	offered = *virtio_c32(d, VIRTIO_DF);
	*virtio_c32(d, VIRTIO_DFSELECT) = 1;
	offered |= (uint64_t)*virtio_c32(d, VIRTIO_DF) << 32;
	*features = offered & (wanted | 1ULL << VIRTIO_F_VERSION_1);
	if (!(*features & 1ULL << VIRTIO_F_VERSION_1))
		return false;
	*virtio_c32(d, VIRTIO_GFSELECT) = 0;
	*virtio_c32(d, VIRTIO_GF) = (uint32_t)*features;
	*virtio_c32(d, VIRTIO_GFSELECT) = 1;
	*virtio_c32(d, VIRTIO_GF) = (uint32_t)(*features >> 32);
	*virtio_c8(d, VIRTIO_STATUS) = VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK;
	return (*virtio_c8(d, VIRTIO_STATUS) & VIRTIO_S_FEATURES_OK) != 0;
}

void virtio_queue_setup(struct virtio_dev *d, struct vq *q, uint16_t index)
{
	uint8_t *p = (uint8_t *)q;

	for (unsigned i = 0; i < sizeof(*q); i++)
		p[i] = 0;
	*virtio_c16(d, VIRTIO_Q_SELECT) = index;
	*virtio_c16(d, VIRTIO_Q_SIZE) = VQ_SIZE;
	virtio_c64(d, VIRTIO_Q_DESC, (uintptr_t)q->desc);
	virtio_c64(d, VIRTIO_Q_AVAIL, (uintptr_t)&q->avail);
	virtio_c64(d, VIRTIO_Q_USED, (uintptr_t)&q->used);
	q->notify = (volatile uint16_t *)(d->notify_base +
					  d->notify_mult * *virtio_c16(d, VIRTIO_Q_NOTIFY_OFF));
	q->index = index;
	*virtio_c16(d, VIRTIO_Q_ENABLE) = 1;
}

void virtio_driver_ok(struct virtio_dev *d)
{
	*virtio_c8(d, VIRTIO_STATUS) = VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER |
				       VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK;
}

void vq_make_available(struct vq *q, uint16_t head)
{
	q->avail.ring[q->avail.idx % VQ_SIZE] = head;
	__asm__ volatile("" ::: "memory");	/* the entry before the index (x86 keeps order) */
	q->avail.idx++;
	__asm__ volatile("" ::: "memory");
	*q->notify = q->index;
}

long vq_wait_used(struct vq *q)
{
	volatile uint16_t *used_idx = &q->used.idx;
	uint64_t start = rdtsc();
	long len;

	while (*used_idx == q->last_used)
		if (rdtsc() - start > WAIT_TICKS)
			return -1;
		else
			cpu_relax();
	__asm__ volatile("" ::: "memory");
	len = q->used.ring[q->last_used % VQ_SIZE].len;
	q->last_used++;
	return len;
}
