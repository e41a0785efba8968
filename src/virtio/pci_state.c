/* Migration of a virtio PCI function's transport and queue state (the configuration space
 * itself travels with the PCI bus).  A load trusts nothing: each field is checked against
 * what this device could have been in, and the rings are checked again as on enable. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hopvm/error.h"
#include "hopvm/virtio_pci.h"

#define KNOWN_STATUS                                                                       \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK |      \
	 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

int virtio_pci_save(struct virtio_pci *vp, struct state_buf *s)
{
	struct virtio_device *vd = vp->vd;

	pthread_mutex_lock(&vp->lock);
	state_put_u8(s, vd->status);
	state_put_u64(s, vd->guest_features);
	state_put_u64(s, (uint64_t)vp->dfselect << 32 | vp->gfselect);
	state_put_u64(s, (uint64_t)vp->queue_select << 16 | vp->msix_config);
	state_put_u8(s, vp->config_generation);
	state_put_u8(s, vp->isr);
	state_put_u8(s, vp->broken_reported);
	for (unsigned q = 0; q < vd->ops->nr_queues; q++) {
		const struct virtq *vq = &vd->vq[q];

		state_put_u64(s, (uint64_t)vp->queue_msix[q] << 32 | (uint64_t)vq->size << 16 |
				 vq->enabled);
		state_put_u64(s, vq->desc_gpa);
		state_put_u64(s, vq->avail_gpa);
		state_put_u64(s, vq->used_gpa);
		state_put_u64(s, (uint64_t)vq->last_avail_idx << 32 | (uint64_t)vq->used_idx << 16 |
				 vq->signalled_used);
	}
	state_put_bytes(s, vd->config, vd->config_len);
	pthread_mutex_unlock(&vp->lock);
	pci_msix_save(&vp->msix, s);
	return vd->ops->save != NULL ? vd->ops->save(vd, s) : 0;
}

static bool vector_ok(const struct virtio_pci *vp, uint64_t v)
{
	return v < vp->msix.nr_vectors || v == PCI_MSIX_NO_VECTOR;
}

int virtio_pci_load(struct virtio_pci *vp, struct state_buf *s)
{
	struct virtio_device *vd = vp->vd;
	const char *name = vd->ops->name;
	uint8_t status = state_get_u8(s), generation, isr, reported;
	uint64_t features = state_get_u64(s), selects = state_get_u64(s), misc = state_get_u64(s);
	uint64_t offered = vd->host_features | VIRTIO_PCI_TRANSPORT_FEATURES;
	struct virtq vqs[VIRTIO_MAX_QUEUES];
	uint16_t vectors[VIRTIO_MAX_QUEUES];
	uint8_t config[VIRTIO_CONFIG_MAX];

	generation = state_get_u8(s);
	isr = state_get_u8(s);
	reported = state_get_u8(s);
	if ((status & ~KNOWN_STATUS) || (features & ~offered) || !vector_ok(vp, misc & 0xffff) ||
	    (misc >> 32) || isr > 3 || reported > 1)
		return err_set(-EINVAL, "%s: a saved status, feature or vector this device never "
			       "had", name);
	for (unsigned q = 0; q < vd->ops->nr_queues; q++) {
		struct virtq *vq = &vqs[q];
		uint64_t word = state_get_u64(s), idx;

		virtq_init(vq, vd->mem);
		vectors[q] = (uint16_t)(word >> 32);
		vq->size = (uint16_t)(word >> 16);
		vq->desc_gpa = state_get_u64(s);
		vq->avail_gpa = state_get_u64(s);
		vq->used_gpa = state_get_u64(s);
		idx = state_get_u64(s);
		vq->last_avail_idx = (uint16_t)(idx >> 32);
		vq->used_idx = (uint16_t)(idx >> 16);
		vq->signalled_used = (uint16_t)idx;
		vq->event_idx = (features & VIRTIO_F(VIRTIO_F_EVENT_IDX)) != 0;
		vq->indirect = (features & VIRTIO_F(VIRTIO_F_INDIRECT_DESC)) != 0;
		if (s->short_buf)
			break;
		/* A device pushes only chains it popped, and never has more out than a queue
		 * holds: a used index ahead of the available one is no state it was in (with
		 * overlapping rings, its own pushes would make chains for ever). */
		if (!vector_ok(vp, vectors[q]) || (word >> 48) || (word & 0xfffe) ||
		    (idx >> 48) || (uint16_t)(vq->last_avail_idx - vq->used_idx) > VIRTQ_MAX_SIZE)
			return err_set(-EINVAL, "%s: queue %u's saved state is malformed", name, q);
		if ((word & 1) && virtq_enable(vq) < 0) {
			char why[200];

			snprintf(why, sizeof(why), "%s", err_msg());	/* err_set() reuses it */
			return err_set(-EINVAL, "%s: saved queue %u: %s", name, q, why);
		}
	}
	state_get_bytes(s, config, vd->config_len);
	if (s->short_buf)
		return err_set(-EINVAL, "%s: the saved state is cut short", name);
	if (pci_msix_load(&vp->msix, s) < 0)
		return -EINVAL;

	pthread_mutex_lock(&vp->lock);
	vd->status = status;
	vd->guest_features = features;
	vp->dfselect = (uint32_t)(selects >> 32);
	vp->gfselect = (uint32_t)selects;
	vp->queue_select = (uint16_t)(misc >> 16);
	vp->msix_config = (uint16_t)misc;
	vp->config_generation = generation;
	vp->broken_reported = reported;
	memcpy(vd->vq, vqs, sizeof(vqs[0]) * vd->ops->nr_queues);
	memcpy(vp->queue_msix, vectors, sizeof(vectors[0]) * vd->ops->nr_queues);
	memcpy(vd->config, config, vd->config_len);
	/* A kick may have been in the source's eventfd: look at every queue once. */
	vp->pending = (1U << vd->ops->nr_queues) - 1;
	pthread_mutex_unlock(&vp->lock);
	pthread_mutex_lock(&vp->irq_lock);
	vp->isr = isr;
	pthread_mutex_unlock(&vp->irq_lock);
	return vd->ops->load != NULL ? vd->ops->load(vd, s) : 0;
}
