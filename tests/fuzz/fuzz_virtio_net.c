/* libFuzzer harness for virtio-net: the input is a guest's RAM (three queues' descriptors,
 * available rings and buffers, all the guest's to choose) and a frame from the host.  The
 * first bytes pick each queue's size and available index, the negotiated features and the
 * frame's length.  One device serves the transmit and control queues into /dev/null; another
 * reads the frame from a socketpair into its receive queue, as from a TAP.  Nothing may touch
 * memory outside RAM, the walk must end, and a frame is placed whole, dropped, or kept for
 * later with the fd no longer watched.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/virtio_net.h"
#include "hopvm/virtio_pci.h"

#define RAM_SIZE (64U << 10)
#define QUEUE_AREA 0x4000	/* queue q's rings at q * QUEUE_AREA */
#define HEADER 12	/* sizes (3), features, avail indices (3 x 2), frame length (2) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram, *frame;
static struct guest_mem mem;
static struct virtio_net tx_net, rx_net;
static struct virtio_pci tx_vp, rx_vp;
static int host_fd, dev_fd;

static void once(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct virtio_pci_platform plat = { .intx_irq = 11 };
	int sv[2], null_fd;

	if (ram != NULL)
		return;
	/* Guest RAM ends exactly at the end of a heap buffer, so ASan sees any overrun. */
	ram = malloc(RAM_SIZE);
	frame = malloc(VIRTIO_NET_HDR_LEN + 65535);
	null_fd = open("/dev/null", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (ram == NULL || frame == NULL || null_fd < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	host_fd = sv[0];
	dev_fd = sv[1];
	guest_mem_init_buffer(&mem, ram, RAM_SIZE);
	if (virtio_net_init_fd(&tx_net, &mem, null_fd, mac, "fuzz-tx") < 0 ||
	    virtio_pci_init(&tx_vp, &tx_net.vdev, &plat) < 0 ||
	    virtio_net_init_fd(&rx_net, &mem, dev_fd, mac, "fuzz-rx") < 0 ||
	    virtio_pci_init(&rx_vp, &rx_net.vdev, &plat) < 0)
		abort();
}

/* The driver's set-up, without the register dance: features, the rings, DRIVER_OK. */
static void driver_up(struct virtio_device *vd, const uint8_t *hdr)
{
	uint64_t f = VIRTIO_F(VIRTIO_F_VERSION_1) | VIRTIO_F(VIRTIO_NET_F_CTRL_VQ) |
		     VIRTIO_F(VIRTIO_NET_F_GUEST_ANNOUNCE);

	if (hdr[3] & 1)
		f |= VIRTIO_F(VIRTIO_NET_F_MRG_RXBUF);
	if (hdr[3] & 2)
		f |= VIRTIO_F(VIRTIO_F_EVENT_IDX);
	if (hdr[3] & 4)
		f |= VIRTIO_F(VIRTIO_F_INDIRECT_DESC);
	vd->ops->reset(vd);
	vd->guest_features = f;
	vd->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	for (unsigned q = 0; q < 3; q++) {
		struct virtq *vq = &vd->vq[q];

		virtq_init(vq, &mem);
		vq->size = (uint16_t)(1U << (hdr[q] % 9));
		vq->event_idx = f & VIRTIO_F(VIRTIO_F_EVENT_IDX);
		vq->indirect = f & VIRTIO_F(VIRTIO_F_INDIRECT_DESC);
		vq->desc_gpa = (uint64_t)q * QUEUE_AREA;
		vq->avail_gpa = vq->desc_gpa + 0x1000;
		vq->used_gpa = vq->desc_gpa + 0x2000;
		le16_put(ram + vq->avail_gpa + 2, le16_get(hdr + 4 + 2 * q));
		if (virtq_enable(vq) < 0)
			abort();
	}
}

static void drain(int fd)
{
	while (recv(fd, frame, VIRTIO_NET_HDR_LEN + 65535, MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtq *rxq = &rx_net.vdev.vq[VIRTIO_NET_RX];
	size_t len, written = 0;
	uint16_t used_before;

	once();
	if (size < HEADER)
		return 0;
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + HEADER, size - HEADER < RAM_SIZE ? size - HEADER : RAM_SIZE);

	/* Transmit and control: whatever the chains are, they end served or the ring broken. */
	driver_up(&tx_net.vdev, data);
	(void)tx_net.vdev.ops->queue_notify(&tx_net.vdev, VIRTIO_NET_TX);
	(void)tx_net.vdev.ops->queue_notify(&tx_net.vdev, VIRTIO_NET_CTRL);

	/* Receive: one frame of the chosen length, its bytes from the input's tail. */
	driver_up(&rx_net.vdev, data);
	len = VIRTIO_NET_HDR_LEN + le16_get(data + 10);
	memset(frame, 0, len);
	if (size > HEADER + RAM_SIZE)
		memcpy(frame, data + HEADER + RAM_SIZE,
		       size - HEADER - RAM_SIZE < len ? size - HEADER - RAM_SIZE : len);
	used_before = rxq->used_idx;
	if (send(host_fd, frame, len, 0) != (ssize_t)len)
		abort();
	(void)rx_net.vdev.ops->input_ready(&rx_net.vdev);
	/* What went to the guest is at most the frame, in at most a ring's worth of buffers. */
	if ((uint16_t)(rxq->used_idx - used_before) > rxq->size)
		abort();
	for (uint16_t i = used_before; rxq->enabled && i != rxq->used_idx; i++)
		written += le32_get(ram + rxq->used_gpa + 4 + 8 * (i % rxq->size) + 4);
	if (rxq->enabled && written > len)
		abort();
	/* A frame kept for later is never read over: the fd is not watched meanwhile. */
	if (rx_net.frame_len > 0 && rx_net.vdev.ops->input_fd(&rx_net.vdev) >= 0)
		abort();
	drain(dev_fd);
	return 0;
}
