#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/virtio_pci.h"
#include "hopvm/threads.h"

/* Vendor capabilities (4.1.4). */
#define CAP_LEN 16
#define CAP_NOTIFY_LEN 20
#define CAP_PCI_CFG_LEN 20
#define CAP_CFG_TYPE 3
#define CAP_BAR 4
#define CAP_OFFSET 8
#define CAP_LENGTH 12
#define CAP_EXTRA 16	/* notify_off_multiplier, or the PCI_CFG window's data */
enum { CFG_COMMON = 1, CFG_NOTIFY, CFG_ISR, CFG_DEVICE, CFG_PCI };

#define SUBSYSTEM_ID 0x1100

static struct virtio_pci *of_pci(struct pci_device *pci)
{
	return pci->owner;
}

static unsigned nr_queues(const struct virtio_pci *vp)
{
	return vp->vd->ops->nr_queues;
}

static uint64_t offered_features(const struct virtio_pci *vp)
{
	return vp->vd->host_features | VIRTIO_PCI_TRANSPORT_FEATURES;
}

/* --- interrupts ------------------------------------------------------------------------ */

static void update_intx(struct virtio_pci *vp)
{
	bool level = vp->isr != 0 &&
		     !(le16_get(vp->pci.config + PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);

	if (level != vp->intx_level) {
		vp->intx_level = level;
		if (vp->plat.intx != NULL)
			vp->plat.intx(vp->plat.ctx, vp->plat.intx_irq, level);
	}
}

static void raise_interrupt(struct virtio_pci *vp, uint8_t isr_bit, uint16_t vector)
{
	if (pci_msix_enabled(&vp->msix)) {
		if (vector != PCI_MSIX_NO_VECTOR)
			pci_msix_notify(&vp->msix, vector);
		return;
	}
	pthread_mutex_lock(&vp->irq_lock);
	vp->isr |= isr_bit;
	update_intx(vp);
	pthread_mutex_unlock(&vp->irq_lock);
}

static void msix_send(void *ctx, unsigned vector, uint64_t addr, uint32_t data)
{
	struct virtio_pci *vp = ctx;

	if (vp->plat.msi != NULL)
		vp->plat.msi(vp->plat.ctx, vp->plat.msi_base + vector, addr, data);
}

void virtio_queue_interrupt(struct virtio_device *vd, unsigned q)
{
	struct virtio_pci *vp = vd->transport;

	if (virtq_should_interrupt(&vd->vq[q]))
		raise_interrupt(vp, VIRTIO_PCI_ISR_QUEUE, vp->queue_msix[q]);
}

void virtio_device_lock(struct virtio_device *vd)
{
	pthread_mutex_lock(&vd->transport->lock);
}

void virtio_device_unlock(struct virtio_device *vd)
{
	pthread_mutex_unlock(&vd->transport->lock);
}

void virtio_config_changed(struct virtio_device *vd)
{
	struct virtio_pci *vp = vd->transport;

	vp->config_generation++;
	raise_interrupt(vp, VIRTIO_PCI_ISR_CONFIG, vp->msix_config);
}

/* A guest that breaks and resets a device in a loop would fill hopvm's stderr with these
 * messages: after VIRTIO_PCI_MAX_REPORTS a device says so once and goes quiet. */
#define VIRTIO_PCI_MAX_REPORTS 32

static bool may_report(struct virtio_pci *vp)
{
	if (vp->reports > VIRTIO_PCI_MAX_REPORTS)
		return false;
	if (vp->reports++ < VIRTIO_PCI_MAX_REPORTS)
		return true;
	fprintf(stderr, "hopvm: %s: %d broken rings and refused accesses reported; further ones "
		"are not\n", vp->vd->ops->name, VIRTIO_PCI_MAX_REPORTS);
	return false;
}

/* The device cannot go on: DEVICE_NEEDS_RESET, a config interrupt, and one message. */
static void device_broken(struct virtio_pci *vp, const char *why)
{
	struct virtio_device *vd = vp->vd;

	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	for (unsigned q = 0; q < nr_queues(vp); q++)
		vd->vq[q].enabled = false;
	if (!vp->broken_reported) {
		vp->broken_reported = true;
		if (may_report(vp))
			fprintf(stderr, "hopvm: %s: %s; the device stops until the guest "
				"resets it\n", vd->ops->name, why);
	}
	raise_interrupt(vp, VIRTIO_PCI_ISR_CONFIG, vp->msix_config);
}

/* A driver that breaks a rule without breaking the device: said once per reset. */
static void misuse(struct virtio_pci *vp, const char *what, unsigned q)
{
	if (!vp->misuse_reported) {
		vp->misuse_reported = true;
		if (may_report(vp))
			fprintf(stderr, "hopvm: %s: the driver %s (queue %u); refused\n",
				vp->vd->ops->name, what, q);
	}
}

/* --- the common configuration ----------------------------------------------------------- */

static void device_reset(struct virtio_pci *vp)
{
	struct virtio_device *vd = vp->vd;

	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		virtq_init(&vd->vq[q], vd->mem);
		vp->queue_msix[q] = PCI_MSIX_NO_VECTOR;
	}
	vd->guest_features = 0;
	vd->status = 0;
	vp->dfselect = vp->gfselect = 0;
	vp->queue_select = 0;
	vp->msix_config = PCI_MSIX_NO_VECTOR;
	vp->broken_reported = vp->misuse_reported = false;
	vp->pending = 0;
	pthread_mutex_lock(&vp->irq_lock);
	vp->isr = 0;
	update_intx(vp);
	pthread_mutex_unlock(&vp->irq_lock);
	if (vd->ops->reset != NULL)
		vd->ops->reset(vd);
}

static void common_image(const struct virtio_pci *vp, uint8_t *img)
{
	const struct virtio_device *vd = vp->vd;
	unsigned q = vp->queue_select;
	bool valid = q < nr_queues(vp);
	const struct virtq *vq = &vd->vq[valid ? q : 0];
	uint64_t offered = offered_features(vp);

	memset(img, 0, VIRTIO_PCI_COMMON_LEN);
	le32_put(img + VIRTIO_PCI_DFSELECT, vp->dfselect);
	le32_put(img + VIRTIO_PCI_DF, vp->dfselect < 2 ? (uint32_t)(offered >> (32 * vp->dfselect))
						       : 0);
	le32_put(img + VIRTIO_PCI_GFSELECT, vp->gfselect);
	le32_put(img + VIRTIO_PCI_GF, vp->gfselect < 2 ?
		 (uint32_t)(vd->guest_features >> (32 * vp->gfselect)) : 0);
	le16_put(img + VIRTIO_PCI_MSIX_CONFIG, vp->msix_config);
	le16_put(img + VIRTIO_PCI_NUM_QUEUES, (uint16_t)nr_queues(vp));
	img[VIRTIO_PCI_STATUS] = vd->status;
	img[VIRTIO_PCI_CONFIG_GEN] = vp->config_generation;
	le16_put(img + VIRTIO_PCI_Q_SELECT, vp->queue_select);
	if (!valid)
		return;
	le16_put(img + VIRTIO_PCI_Q_SIZE, vq->size);
	le16_put(img + VIRTIO_PCI_Q_MSIX, vp->queue_msix[q]);
	le16_put(img + VIRTIO_PCI_Q_ENABLE, vq->enabled);
	le16_put(img + VIRTIO_PCI_Q_NOTIFY_OFF, (uint16_t)q);
	le64_put(img + VIRTIO_PCI_Q_DESC, vq->desc_gpa);
	le64_put(img + VIRTIO_PCI_Q_AVAIL, vq->avail_gpa);
	le64_put(img + VIRTIO_PCI_Q_USED, vq->used_gpa);
}

static uint16_t checked_vector(const struct virtio_pci *vp, uint16_t v)
{
	return v < vp->msix.nr_vectors ? v : PCI_MSIX_NO_VECTOR;
}

static void status_written(struct virtio_pci *vp, uint8_t v)
{
	struct virtio_device *vd = vp->vd;
	uint8_t old = vd->status;

	if (v == 0) {
		device_reset(vp);
		return;
	}
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
	    ((vd->guest_features & ~offered_features(vp)) ||
	     !(vd->guest_features & VIRTIO_F(VIRTIO_F_VERSION_1))))
		v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;	/* the driver reads back and gives up */
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK))
		vp->pending = (1U << nr_queues(vp)) - 1;	/* look at every queue once */
	vd->status = (uint8_t)(v | (old & VIRTIO_STATUS_NEEDS_RESET));
}

static void queue_enable(struct virtio_pci *vp, unsigned q)
{
	struct virtio_device *vd = vp->vd;
	struct virtq *vq = &vd->vq[q];
	char why[200];

	vq->event_idx = (vd->guest_features & VIRTIO_F(VIRTIO_F_EVENT_IDX)) != 0;
	vq->indirect = (vd->guest_features & VIRTIO_F(VIRTIO_F_INDIRECT_DESC)) != 0;
	if (virtq_enable(vq) < 0) {
		snprintf(why, sizeof(why), "queue %u: %s", q, err_msg());
		device_broken(vp, why);
	}
}

/* Applies the field at off (of the given width) from the image the write left. */
static void field_written(struct virtio_pci *vp, unsigned off, const uint8_t *img)
{
	struct virtio_device *vd = vp->vd;
	unsigned q = vp->queue_select;
	struct virtq *vq = &vd->vq[q < nr_queues(vp) ? q : 0];
	bool queue_locked = (vd->status & VIRTIO_STATUS_DRIVER_OK) || vq->enabled;

	switch (off) {
	case VIRTIO_PCI_DFSELECT:
		vp->dfselect = le32_get(img + off);
		return;
	case VIRTIO_PCI_GFSELECT:
		vp->gfselect = le32_get(img + off);
		return;
	case VIRTIO_PCI_GF:
		if (vp->gfselect < 2 && !(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
			unsigned shift = 32 * vp->gfselect;

			vd->guest_features = (vd->guest_features & ~(0xffffffffULL << shift)) |
					     (uint64_t)le32_get(img + off) << shift;
		}
		return;
	case VIRTIO_PCI_MSIX_CONFIG:
		vp->msix_config = checked_vector(vp, le16_get(img + off));
		return;
	case VIRTIO_PCI_STATUS:
		status_written(vp, img[off]);
		return;
	case VIRTIO_PCI_Q_SELECT:
		vp->queue_select = le16_get(img + off);
		return;
	}
	if (q >= nr_queues(vp))
		return;
	switch (off) {
	case VIRTIO_PCI_Q_MSIX:
		vp->queue_msix[q] = checked_vector(vp, le16_get(img + off));
		return;
	case VIRTIO_PCI_Q_ENABLE:
		if (le16_get(img + off) == 1 && !vq->enabled &&
		    !(vd->status & VIRTIO_STATUS_NEEDS_RESET))
			queue_enable(vp, q);
		return;
	case VIRTIO_PCI_Q_SIZE:
	case VIRTIO_PCI_Q_DESC:
	case VIRTIO_PCI_Q_AVAIL:
	case VIRTIO_PCI_Q_USED:
		if (queue_locked) {
			misuse(vp, "reconfigured a queue in use", q);
			return;
		}
		if (off == VIRTIO_PCI_Q_SIZE)
			vq->size = le16_get(img + off);
		else if (off == VIRTIO_PCI_Q_DESC)
			vq->desc_gpa = le64_get(img + off);
		else if (off == VIRTIO_PCI_Q_AVAIL)
			vq->avail_gpa = le64_get(img + off);
		else
			vq->used_gpa = le64_get(img + off);
		return;
	}
}

static const struct {
	uint8_t off, len;
} common_fields[] = {
	{ VIRTIO_PCI_DFSELECT, 4 }, { VIRTIO_PCI_DF, 4 }, { VIRTIO_PCI_GFSELECT, 4 },
	{ VIRTIO_PCI_GF, 4 }, { VIRTIO_PCI_MSIX_CONFIG, 2 }, { VIRTIO_PCI_NUM_QUEUES, 2 },
	{ VIRTIO_PCI_STATUS, 1 }, { VIRTIO_PCI_CONFIG_GEN, 1 }, { VIRTIO_PCI_Q_SELECT, 2 },
	{ VIRTIO_PCI_Q_SIZE, 2 }, { VIRTIO_PCI_Q_MSIX, 2 }, { VIRTIO_PCI_Q_ENABLE, 2 },
	{ VIRTIO_PCI_Q_NOTIFY_OFF, 2 }, { VIRTIO_PCI_Q_DESC, 8 }, { VIRTIO_PCI_Q_AVAIL, 8 },
	{ VIRTIO_PCI_Q_USED, 8 },
};

static void common_write(struct virtio_pci *vp, unsigned off, const uint8_t *data,
			 unsigned size)
{
	uint8_t img[VIRTIO_PCI_COMMON_LEN];
	bool kick;

	pthread_mutex_lock(&vp->lock);
	common_image(vp, img);
	memcpy(img + off, data, size);
	/* Each field the access touched, whole: a 64-bit address may come in two halves. */
	for (size_t i = 0; i < sizeof(common_fields) / sizeof(common_fields[0]); i++) {
		unsigned f = common_fields[i].off, len = common_fields[i].len;

		if (off < f + len && f < off + size)
			field_written(vp, f, img);
	}
	kick = vp->pending != 0;
	pthread_mutex_unlock(&vp->lock);
	if (kick)
		(void)eventfd_write(vp->wake_fd, 1);
}

/* --- BAR 0 ------------------------------------------------------------------------------ */

static bool within(uint64_t off, unsigned size, uint64_t base, uint64_t len)
{
	return off >= base && off - base + size <= len;
}

static int virtio_pci_bar_read(struct pci_device *pci, unsigned bar, uint64_t off,
			       uint8_t *data, unsigned size)
{
	struct virtio_pci *vp = of_pci(pci);
	struct virtio_device *vd = vp->vd;

	if (bar != 0)
		return -EINVAL;
	if (within(off, size, VIRTIO_PCI_COMMON, VIRTIO_PCI_COMMON_LEN)) {
		uint8_t img[VIRTIO_PCI_COMMON_LEN];

		pthread_mutex_lock(&vp->lock);
		common_image(vp, img);
		pthread_mutex_unlock(&vp->lock);
		memcpy(data, img + off, size);
		return 0;
	}
	if (within(off, size, VIRTIO_PCI_ISR, 4)) {
		/* Reading the ISR acknowledges the interrupt and lowers INTx. */
		memset(data, 0, size);
		pthread_mutex_lock(&vp->irq_lock);
		if (off == VIRTIO_PCI_ISR)
			data[0] = vp->isr;
		vp->isr = 0;
		update_intx(vp);
		pthread_mutex_unlock(&vp->irq_lock);
		return 0;
	}
	if (within(off, size, VIRTIO_PCI_DEVICE_CFG, vd->config_len)) {
		pthread_mutex_lock(&vp->lock);
		memcpy(data, vd->config + (off - VIRTIO_PCI_DEVICE_CFG), size);
		pthread_mutex_unlock(&vp->lock);
		return 0;
	}
	if (within(off, size, VIRTIO_PCI_NOTIFY, VIRTIO_PCI_NOTIFY_MULTIPLIER * nr_queues(vp))) {
		memset(data, 0, size);
		return 0;
	}
	if (within(off, size, VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_PBA - VIRTIO_PCI_MSIX_TABLE))
		return pci_msix_table_read(&vp->msix, off - VIRTIO_PCI_MSIX_TABLE, data, size);
	if (within(off, size, VIRTIO_PCI_MSIX_PBA, 8))
		return pci_msix_pba_read(&vp->msix, off - VIRTIO_PCI_MSIX_PBA, data, size);
	return -EINVAL;
}

static int virtio_pci_bar_write(struct pci_device *pci, unsigned bar, uint64_t off,
				const uint8_t *data, unsigned size)
{
	struct virtio_pci *vp = of_pci(pci);
	struct virtio_device *vd = vp->vd;

	if (bar != 0)
		return -EINVAL;
	if (within(off, size, VIRTIO_PCI_COMMON, VIRTIO_PCI_COMMON_LEN)) {
		common_write(vp, (unsigned)off, data, size);
		return 0;
	}
	if (within(off, size, VIRTIO_PCI_DEVICE_CFG, vd->config_len)) {
		if (vd->ops->config_written == NULL)
			return -EINVAL;
		pthread_mutex_lock(&vp->lock);
		memcpy(vd->config + (off - VIRTIO_PCI_DEVICE_CFG), data, size);
		vd->ops->config_written(vd, (unsigned)(off - VIRTIO_PCI_DEVICE_CFG), size);
		pthread_mutex_unlock(&vp->lock);
		return 0;
	}
	if (within(off, size, VIRTIO_PCI_NOTIFY, VIRTIO_PCI_NOTIFY_MULTIPLIER * nr_queues(vp))) {
		/* A kick the ioeventfd did not take (no KVM, another size): the same eventfd. */
		unsigned q = (unsigned)(off - VIRTIO_PCI_NOTIFY) / VIRTIO_PCI_NOTIFY_MULTIPLIER;

		(void)eventfd_write(vp->notify_fd[q], 1);
		return 0;
	}
	if (within(off, size, VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_PBA - VIRTIO_PCI_MSIX_TABLE))
		return pci_msix_table_write(&vp->msix, off - VIRTIO_PCI_MSIX_TABLE, data, size);
	return -EINVAL;
}

/* --- configuration space ---------------------------------------------------------------- */

/* The ioeventfds follow BAR 0 and the memory enable bit. */
static void place_ioeventfds(struct virtio_pci *vp)
{
	uint64_t want = 0;

	if (vp->plat.ioeventfd == NULL)
		return;
	if (le16_get(vp->pci.config + PCI_COMMAND) & PCI_COMMAND_MEMORY)
		want = pci_device_bar_address(&vp->pci, 0) + VIRTIO_PCI_NOTIFY;
	if (want == vp->notify_base)
		return;
	for (unsigned q = 0; q < nr_queues(vp); q++) {
		if (vp->notify_base != 0)
			(void)vp->plat.ioeventfd(vp->plat.ctx, vp->notify_base +
						 VIRTIO_PCI_NOTIFY_MULTIPLIER * q,
						 vp->notify_fd[q], false);
		if (want != 0 && vp->plat.ioeventfd(vp->plat.ctx, want +
						    VIRTIO_PCI_NOTIFY_MULTIPLIER * q,
						    vp->notify_fd[q], true) < 0)
			fprintf(stderr, "hopvm: %s: %s; its kicks take the slow path\n",
				vp->vd->ops->name, err_msg());
	}
	vp->notify_base = want;
}

static bool touches(unsigned off, unsigned size, unsigned field, unsigned len)
{
	return off < field + len && field < off + size;
}

/* The PCI_CFG capability: a window through which a driver reaches BAR 0 without mapping it. */
static unsigned pci_cfg_cap(const struct virtio_pci *vp)
{
	for (unsigned at = vp->pci.config[PCI_CAPABILITY_LIST]; at != 0;
	     at = vp->pci.config[at + 1])
		if (vp->pci.config[at] == PCI_CAP_ID_VENDOR &&
		    vp->pci.config[at + CAP_CFG_TYPE] == CFG_PCI)
			return at;
	return 0;
}

static bool pci_cfg_window(struct virtio_pci *vp, unsigned *cap, uint64_t *off, unsigned *len)
{
	*cap = pci_cfg_cap(vp);
	if (*cap == 0 || vp->pci.config[*cap + CAP_BAR] != 0)
		return false;
	*off = le32_get(vp->pci.config + *cap + CAP_OFFSET);
	*len = le32_get(vp->pci.config + *cap + CAP_LENGTH);
	return *len == 1 || *len == 2 || *len == 4;
}

static void virtio_pci_config_reading(struct pci_device *pci, unsigned off, unsigned size)
{
	struct virtio_pci *vp = of_pci(pci);
	unsigned cap, len;
	uint64_t bar_off;

	if (pci_cfg_window(vp, &cap, &bar_off, &len) &&
	    touches(off, size, cap + CAP_EXTRA, 4) &&
	    virtio_pci_bar_read(pci, 0, bar_off, pci->config + cap + CAP_EXTRA, len) < 0)
		memset(pci->config + cap + CAP_EXTRA, 0xff, len);
}

static void virtio_pci_config_written(struct pci_device *pci, unsigned off, unsigned size)
{
	struct virtio_pci *vp = of_pci(pci);
	unsigned cap, len;
	uint64_t bar_off;

	if (touches(off, size, PCI_COMMAND, 2) || touches(off, size, PCI_BAR0, 4))
		place_ioeventfds(vp);
	if (touches(off, size, PCI_COMMAND, 2)) {
		pthread_mutex_lock(&vp->irq_lock);
		update_intx(vp);	/* INTx disable */
		pthread_mutex_unlock(&vp->irq_lock);
	}
	if (touches(off, size, vp->msix.cap + PCI_MSIX_CONTROL, 2))
		pci_msix_control_written(&vp->msix);
	if (pci_cfg_window(vp, &cap, &bar_off, &len) && touches(off, size, cap + CAP_EXTRA, 4))
		(void)virtio_pci_bar_write(pci, 0, bar_off, pci->config + cap + CAP_EXTRA, len);
}

static void virtio_pci_reset(struct pci_device *pci)
{
	struct virtio_pci *vp = of_pci(pci);

	pthread_mutex_lock(&vp->lock);
	device_reset(vp);
	vp->config_generation = 0;
	pthread_mutex_unlock(&vp->lock);
	pci_msix_reset(&vp->msix);
	place_ioeventfds(vp);
}

static int virtio_pci_save_op(struct pci_device *pci, struct state_buf *s)
{
	return virtio_pci_save(of_pci(pci), s);
}

static int virtio_pci_load_op(struct pci_device *pci, struct state_buf *s)
{
	return virtio_pci_load(of_pci(pci), s);
}

static const struct pci_device_ops virtio_pci_device_ops = {
	.bar_read = virtio_pci_bar_read,
	.bar_write = virtio_pci_bar_write,
	.config_written = virtio_pci_config_written,
	.config_reading = virtio_pci_config_reading,
	.reset = virtio_pci_reset,
	.save = virtio_pci_save_op,
	.load = virtio_pci_load_op,
};

static int add_vendor_cap(struct pci_device *pci, uint8_t type, uint32_t offset, uint32_t len,
			  unsigned cap_len)
{
	int at = pci_device_add_cap(pci, PCI_CAP_ID_VENDOR, cap_len);

	if (at < 0)
		return at;
	pci->config[at + 2] = (uint8_t)cap_len;
	pci->config[at + CAP_CFG_TYPE] = type;
	pci->config[at + CAP_BAR] = 0;
	le32_put(pci->config + at + CAP_OFFSET, offset);
	le32_put(pci->config + at + CAP_LENGTH, len);
	return at;
}

static int build_config_space(struct virtio_pci *vp)
{
	struct pci_device *pci = &vp->pci;
	struct virtio_device *vd = vp->vd;
	int at, ret;

	pci_device_init(pci, vd->ops->name, VIRTIO_PCI_VENDOR,
			(uint16_t)(VIRTIO_PCI_DEVICE_BASE + vd->ops->device_id), vd->ops->pci_class,
			1 /* revision 1: a modern-only device */);
	pci->ops = &virtio_pci_device_ops;
	pci->owner = vp;
	le16_put(pci->config + PCI_SUBSYSTEM_VENDOR_ID, VIRTIO_PCI_VENDOR);
	le16_put(pci->config + PCI_SUBSYSTEM_ID, SUBSYSTEM_ID);
	pci->config[PCI_INTERRUPT_PIN] = 1;	/* INTA# */
	pci->config[PCI_INTERRUPT_LINE] = (uint8_t)vp->plat.intx_irq;
	ret = pci_device_set_bar(pci, 0, VIRTIO_PCI_BAR_SIZE, 0);
	if (ret < 0)
		return ret;
	if ((at = add_vendor_cap(pci, CFG_COMMON, VIRTIO_PCI_COMMON, VIRTIO_PCI_COMMON_LEN,
				 CAP_LEN)) < 0 ||
	    (at = add_vendor_cap(pci, CFG_ISR, VIRTIO_PCI_ISR, 1, CAP_LEN)) < 0 ||
	    (at = add_vendor_cap(pci, CFG_DEVICE, VIRTIO_PCI_DEVICE_CFG,
				 vd->config_len ? vd->config_len : 4, CAP_LEN)) < 0)
		return at;
	at = add_vendor_cap(pci, CFG_NOTIFY, VIRTIO_PCI_NOTIFY,
			    VIRTIO_PCI_NOTIFY_MULTIPLIER * nr_queues(vp), CAP_NOTIFY_LEN);
	if (at < 0)
		return at;
	le32_put(pci->config + at + CAP_EXTRA, VIRTIO_PCI_NOTIFY_MULTIPLIER);
	at = add_vendor_cap(pci, CFG_PCI, 0, 0, CAP_PCI_CFG_LEN);
	if (at < 0)
		return at;
	pci_device_set_wmask(pci, (unsigned)at + CAP_BAR, 1, 0xff);
	pci_device_set_wmask(pci, (unsigned)at + CAP_OFFSET, 12, 0xffffffff);
	return pci_msix_init(&vp->msix, pci, nr_queues(vp) + 1, 0, VIRTIO_PCI_MSIX_TABLE,
			     VIRTIO_PCI_MSIX_PBA, msix_send, vp);
}

int virtio_pci_init(struct virtio_pci *vp, struct virtio_device *vd,
		    const struct virtio_pci_platform *plat)
{
	int ret;

	memset(vp, 0, sizeof(*vp));
	vp->vd = vd;
	vp->plat = *plat;
	vd->transport = vp;
	vp->wake_fd = -1;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vp->notify_fd[q] = -1;
	if (vd->ops->nr_queues == 0 || vd->ops->nr_queues > VIRTIO_MAX_QUEUES)
		return err_set(-EINVAL, "%s: %u queues", vd->ops->name, vd->ops->nr_queues);
	pthread_mutex_init(&vp->lock, NULL);
	pthread_mutex_init(&vp->irq_lock, NULL);
	ret = build_config_space(vp);
	if (ret < 0)
		return ret;
	for (unsigned q = 0; q <= nr_queues(vp); q++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (fd < 0)
			return err_set(-errno, "%s: eventfd: %s", vd->ops->name, strerror(errno));
		if (q < nr_queues(vp))
			vp->notify_fd[q] = fd;
		else
			vp->wake_fd = fd;
	}
	device_reset(vp);
	return 0;
}

/* --- the I/O thread --------------------------------------------------------------------- */

static void drain(int fd)
{
	eventfd_t v;

	(void)eventfd_read(fd, &v);
}

/* With the lock held: serves the queues notified since the last time. */
static void serve_pending(struct virtio_pci *vp)
{
	struct virtio_device *vd = vp->vd;
	unsigned bits;

	if (vp->paused)
		return;
	bits = vp->pending;
	vp->pending = 0;
	for (unsigned q = 0; q < nr_queues(vp); q++) {
		char why[200];

		if (!(bits & (1U << q)) || !(vd->status & VIRTIO_STATUS_DRIVER_OK) ||
		    (vd->status & VIRTIO_STATUS_NEEDS_RESET) || !vd->vq[q].enabled)
			continue;
		if (vd->ops->queue_notify(vd, q) < 0) {
			snprintf(why, sizeof(why), "queue %u: %s", q, err_msg());
			device_broken(vp, why);
		}
	}
}

static void collect_notifications(struct virtio_pci *vp, const struct pollfd *p)
{
	for (unsigned q = 0; q < nr_queues(vp); q++)
		if (p == NULL || p[q].revents) {
			eventfd_t v;

			if (eventfd_read(vp->notify_fd[q], &v) == 0)
				vp->pending |= 1U << q;
		}
}

void virtio_pci_poll(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
	collect_notifications(vp, NULL);
	serve_pending(vp);
	pthread_mutex_unlock(&vp->lock);
}

static void *io_thread(void *arg)
{
	struct virtio_pci *vp = arg;
	struct virtio_device *vd = vp->vd;
	unsigned n = nr_queues(vp);

	if (thread_enter(vd->ops->io_thread ? vd->ops->io_thread : THREAD_VIRTIO_IO,
			 vp->io_index) < 0) {
		pthread_mutex_lock(&vp->lock);
		device_broken(vp, err_msg());
		pthread_mutex_unlock(&vp->lock);
		return NULL;
	}

	for (;;) {
		struct pollfd p[VIRTIO_MAX_QUEUES + 2];
		unsigned count = n + 1;
		int input = -1, timeout = -1;

		/* A paused device's input waits (resume wakes the thread), or a readable TAP would
		 * make this loop spin through a migration's pause.  Queues already marked (a
		 * migrated device looks at each once) are served without waiting for a kick: the
		 * guest kicked the source, and with EVENT_IDX it may not kick again. */
		pthread_mutex_lock(&vp->lock);
		if (!vp->paused && vd->ops->input_fd != NULL)
			input = vd->ops->input_fd(vd);
		if (!vp->paused && vp->pending != 0)
			timeout = 0;
		pthread_mutex_unlock(&vp->lock);

		for (unsigned q = 0; q < n; q++)
			p[q] = (struct pollfd){ .fd = vp->notify_fd[q], .events = POLLIN };
		p[n] = (struct pollfd){ .fd = vp->wake_fd, .events = POLLIN };
		if (input >= 0)
			p[count++] = (struct pollfd){ .fd = input, .events = POLLIN };
		if (poll(p, count, timeout) < 0 && errno != EINTR)
			break;
		pthread_mutex_lock(&vp->lock);
		if (vp->stopping) {
			pthread_mutex_unlock(&vp->lock);
			break;
		}
		if (p[n].revents)
			drain(vp->wake_fd);
		collect_notifications(vp, p);
		serve_pending(vp);
		if (input >= 0 && p[n + 1].revents && !vp->paused &&
		    (vd->status & VIRTIO_STATUS_DRIVER_OK) && vd->ops->input_ready(vd) < 0)
			device_broken(vp, err_msg());
		pthread_mutex_unlock(&vp->lock);
	}
	return NULL;
}

int virtio_pci_start(struct virtio_pci *vp)
{
	static unsigned next_index;
	int ret;

	vp->io_index = __atomic_fetch_add(&next_index, 1, __ATOMIC_RELAXED);
	ret = pthread_create(&vp->thread, NULL, io_thread, vp);

	if (ret != 0)
		return err_set(-ret, "%s: cannot start its I/O thread: %s", vp->vd->ops->name,
			       strerror(ret));
	vp->started = true;
	return 0;
}

void virtio_pci_free(struct virtio_pci *vp)
{
	if (vp->vd == NULL)
		return;
	if (vp->started) {
		pthread_mutex_lock(&vp->lock);
		vp->stopping = true;
		pthread_mutex_unlock(&vp->lock);
		(void)eventfd_write(vp->wake_fd, 1);
		pthread_join(vp->thread, NULL);
		vp->started = false;
	}
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (vp->notify_fd[q] >= 0)
			close(vp->notify_fd[q]);
	if (vp->wake_fd >= 0)
		close(vp->wake_fd);
	pci_msix_free(&vp->msix);
	pthread_mutex_destroy(&vp->lock);
	pthread_mutex_destroy(&vp->irq_lock);
	vp->vd = NULL;
}

void virtio_pci_pause(struct virtio_pci *vp)
{
	/* The thread serves with the lock held: once we hold it, nothing is in flight. */
	pthread_mutex_lock(&vp->lock);
	vp->paused++;
	pthread_mutex_unlock(&vp->lock);
}

void virtio_pci_resume(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
	if (vp->paused > 0)
		vp->paused--;
	pthread_mutex_unlock(&vp->lock);
	(void)eventfd_write(vp->wake_fd, 1);
}
