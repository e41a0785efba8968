/* virtio-net's data path: transmit chains to the fd, frames from the fd into receive chains. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/tap.h"
#include "net_internal.h"

#define OFFERED                                                                            \
	(VIRTIO_F(VIRTIO_NET_F_CSUM) | VIRTIO_F(VIRTIO_NET_F_GUEST_CSUM) |                  \
	 VIRTIO_F(VIRTIO_NET_F_MAC) | VIRTIO_F(VIRTIO_NET_F_GUEST_TSO4) |                   \
	 VIRTIO_F(VIRTIO_NET_F_GUEST_TSO6) | VIRTIO_F(VIRTIO_NET_F_GUEST_ECN) |             \
	 VIRTIO_F(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_F(VIRTIO_NET_F_HOST_TSO6) |              \
	 VIRTIO_F(VIRTIO_NET_F_HOST_ECN) | VIRTIO_F(VIRTIO_NET_F_MRG_RXBUF) |               \
	 VIRTIO_F(VIRTIO_NET_F_STATUS) | VIRTIO_F(VIRTIO_NET_F_CTRL_VQ) |                   \
	 VIRTIO_F(VIRTIO_NET_F_CTRL_RX) | VIRTIO_F(VIRTIO_NET_F_GUEST_ANNOUNCE) |           \
	 VIRTIO_F(VIRTIO_NET_F_CTRL_MAC_ADDR))

/* One byte more than the largest frame the device takes: a read that fills it was cut. */
#define RX_BUF_SIZE (VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME + 1)
/* Frames taken per wake-up, so that kicks and transmits get their turn during a flood. */
#define RX_BATCH 64
/* How long a transmit waits for room in a full TAP before the frame is dropped. */
#define TX_WAIT_MS 10

void net_log_once(struct virtio_net *net, unsigned kind, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	if (net->logged & kind)
		return;
	net->logged |= kind;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fprintf(stderr, "hopvm: virtio-net (%s): %s\n", net->name, what);
}

/* The TAP hands the guest only what the guest said it can take: checksums left to it,
 * segments larger than the MTU. */
static void sync_offloads(struct virtio_net *net)
{
	uint64_t features = net->vdev.guest_features;
	unsigned want = net_tun_offloads(features);

	if (!net->is_tap || features == net->offloads_for)
		return;
	net->offloads_for = features;
	if (tap_set_offload(net->fd, net->name, want) < 0) {
		net_log_once(net, NET_LOG_OFFLOAD, "%s; the host keeps its earlier offloads",
			     err_msg());
		return;
	}
	net->tun_offloads = want;
}

/* --- transmit ---------------------------------------------------------------------------- */

/* A full TAP gets one short wait per transmit pass, so a ring of frames for a TAP nobody
 * reads costs the I/O thread (and a vCPU wanting the device's lock) at most TX_WAIT_MS. */
static void tx_write(struct virtio_net *net, const struct iovec *iov, int count)
{
	int err;

	for (;;) {
		struct pollfd w = { .fd = net->fd, .events = POLLOUT };

		if (writev(net->fd, iov, count) >= 0) {
			net->stats.tx_frames++;
			return;
		}
		err = errno;
		if (err == EINTR)
			continue;
		if (err != EAGAIN || net->tx_waited)
			break;
		net->tx_waited = true;
		if (poll(&w, 1, TX_WAIT_MS) <= 0)
			break;
	}
	net->stats.tx_dropped++;
	net_log_once(net, NET_LOG_TX_DROP, "a transmitted frame was dropped (%s); further drops "
		     "are only counted", err == EAGAIN ? "the TAP stayed full" : strerror(err));
}

static int serve_tx(struct virtio_device *vd, struct virtq_chain *c)
{
	struct virtio_net *net = vd->priv;
	struct iovec iov[VIRTQ_MAX_SIZE];
	int count;

	if (c->nr_in > 0 || c->out_len < VIRTIO_NET_HDR_LEN ||
	    c->out_len > VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME) {
		net->stats.tx_bad++;
		net_log_once(net, NET_LOG_TX_BAD, "a transmit chain of %llu readable bytes and %u "
			     "writable buffers is not a 12-byte header and a frame of at most %d "
			     "bytes; dropped, and further ones only counted",
			     (unsigned long long)c->out_len, c->nr_in, VIRTIO_NET_MAX_FRAME);
		return 0;
	}
	count = virtq_chain_iov(c, false, 0, c->out_len, iov, VIRTQ_MAX_SIZE);
	if (count < 0) {
		net->stats.tx_bad++;
		return 0;
	}
	tx_write(net, iov, count);
	return 0;
}

/* --- receive ----------------------------------------------------------------------------- */

static int rx_drop(struct virtio_net *net, const char *why, size_t len)
{
	net->stats.rx_dropped++;
	net_log_once(net, NET_LOG_RX_DROP, "a received frame of %zu bytes was dropped: %s; "
		     "further drops are only counted", len, why);
	return 1;
}

/* Copies net->frame into receive chains: 1 when it was placed (or dropped), 0 when it must
 * wait for more buffers, -EIO for a broken ring.  The chains it needs are counted first and
 * given back, so num_buffers is known before the guest can see the first one. */
static int place(struct virtio_net *net)
{
	struct virtio_device *vd = &net->vdev;
	struct virtq *vq = &vd->vq[VIRTIO_NET_RX];
	bool mergeable = vd->guest_features & VIRTIO_F(VIRTIO_NET_F_MRG_RXBUF);
	struct virtq_chain c;
	uint64_t room = 0;
	uint16_t n = 0;
	size_t off = 0;
	int ret;

	while (room < net->frame_len) {
		ret = virtq_pop(vq, &c);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			virtq_unpop(vq, n);
			if (n < vq->size)
				return 0;
			return rx_drop(net, "all the guest's receive buffers together are smaller",
				       net->frame_len);
		}
		if (n == 0 && c.in_len < VIRTIO_NET_HDR_LEN) {
			/* Cannot hold even the header: returned empty, as no frame could use it. */
			virtq_push(vq, &c, 0);
			continue;
		}
		n++;
		room += c.in_len;
		if (!mergeable)
			break;
	}
	virtq_unpop(vq, n);
	if (room < net->frame_len)
		return rx_drop(net, "it does not fit in one receive buffer (the guest has no "
			       "MRG_RXBUF)", net->frame_len);
	le16_put(net->frame + VIRTIO_NET_HDR_NUM_BUFFERS, n);
	for (uint16_t i = 0; i < n && off < net->frame_len; i++) {
		size_t len;

		ret = virtq_pop(vq, &c);
		if (ret < 0)
			return ret;
		if (ret == 0)
			break;	/* a guest that rewrote its ring meanwhile gets what fitted */
		len = virtq_chain_write(&c, 0, net->frame + off, net->frame_len - off);
		off += len;
		virtq_push(vq, &c, (uint32_t)len);
	}
	net->stats.rx_frames++;
	return 1;
}

/* Reads and places frames while the guest has buffers for them; leaves net->rx_wanted saying
 * whether the fd should be watched. */
static int receive(struct virtio_net *net)
{
	struct virtio_device *vd = &net->vdev;
	struct virtq *vq = &vd->vq[VIRTIO_NET_RX];
	int ret = 0;

	net->rx_wanted = false;
	for (unsigned frames = 0; frames < RX_BATCH; frames++) {
		if (net->frame_len == 0) {
			ssize_t n;

			/* No buffer: the frame stays in the fd (the TAP's own queue). */
			if (!virtq_has_available(vq) && !virtq_more_after_enable(vq))
				break;
			do
				n = read(net->fd, net->frame, RX_BUF_SIZE);
			while (n < 0 && errno == EINTR);
			if (n < 0 && errno == EAGAIN) {
				net->rx_wanted = true;
				break;
			}
			if (n <= 0) {
				net_log_once(net, NET_LOG_RX_DROP, "reading frames: %s; receiving "
					     "stops until the guest's next kick",
					     n == 0 ? "end of file" : strerror(errno));
				break;
			}
			if (n < VIRTIO_NET_HDR_LEN || n == RX_BUF_SIZE) {
				rx_drop(net, n < VIRTIO_NET_HDR_LEN ? "shorter than its header" :
					"larger than the largest frame", (size_t)n);
				continue;
			}
			net->frame_len = (size_t)n;
		}
		ret = place(net);
		if (ret < 0)
			break;
		if (ret == 0) {
			/* Not room enough in what is posted: woken by the next buffer added. */
			if (virtq_notify_on_new(vq))
				continue;
			break;
		}
		net->frame_len = 0;
		if (frames + 1 == RX_BATCH)
			net->rx_wanted = true;	/* more may wait: the next poll says */
	}
	virtio_queue_interrupt(vd, VIRTIO_NET_RX);
	return ret < 0 ? ret : 0;
}

/* --- the device -------------------------------------------------------------------------- */

static int net_queue_notify(struct virtio_device *vd, unsigned q)
{
	struct virtio_net *net = vd->priv;

	sync_offloads(net);
	if (q == VIRTIO_NET_RX)
		return receive(net);
	if (q == VIRTIO_NET_TX) {
		net->tx_waited = false;
		return virtio_queue_serve(vd, q, serve_tx);
	}
	return virtio_queue_serve(vd, q, net_ctrl_serve);
}

static int net_input_fd(struct virtio_device *vd)
{
	struct virtio_net *net = vd->priv;

	return net->rx_wanted ? net->fd : -1;
}

static int net_input_ready(struct virtio_device *vd)
{
	struct virtio_net *net = vd->priv;

	sync_offloads(net);
	return receive(net);
}

static void net_reset(struct virtio_device *vd)
{
	struct virtio_net *net = vd->priv;

	net->rx_wanted = false;
	net->frame_len = 0;
	net->offloads_for = UINT64_MAX;
	memcpy(vd->config + VIRTIO_NET_CFG_MAC, net->mac, 6);
	le16_put(vd->config + VIRTIO_NET_CFG_STATUS, VIRTIO_NET_S_LINK_UP);
	le16_put(vd->config + VIRTIO_NET_CFG_MAX_PAIRS, 1);
}

const struct virtio_device_ops virtio_net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.pci_class = 0x020000,	/* network controller, Ethernet */
	.nr_queues = 3,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
	.input_fd = net_input_fd,
	.input_ready = net_input_ready,
	.save = net_save,
	.load = net_load,
};

int virtio_net_init_fd(struct virtio_net *net, struct guest_mem *mem, int fd,
		       const uint8_t mac[6], const char *name)
{
	memset(net, 0, sizeof(*net));
	net->fd = fd;
	snprintf(net->name, sizeof(net->name), "%s", name);
	memcpy(net->mac, mac, 6);
	net->offloads_for = UINT64_MAX;
	net->rarp_first_ms = VIRTIO_NET_RARP_FIRST_MS;
	net->rarp_step_ms = VIRTIO_NET_RARP_STEP_MS;
	net->frame = malloc(RX_BUF_SIZE);
	if (net->frame == NULL)
		return err_set(-ENOMEM, "virtio-net (%s): no memory for its receive buffer", name);
	pthread_mutex_init(&net->announce_lock, NULL);
	pthread_cond_init(&net->announce_cond, NULL);
	virtio_device_init(&net->vdev, &virtio_net_ops, net, mem, OFFERED, VIRTIO_NET_CFG_LEN);
	net_reset(&net->vdev);
	return 0;
}

int virtio_net_open(struct virtio_net *net, struct guest_mem *mem,
		    const struct virtio_net_option *opt)
{
	int fd = tap_open(opt->tap), ret;

	if (fd < 0)
		return fd;
	ret = virtio_net_init_fd(net, mem, fd, opt->mac, opt->tap);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	net->owns_fd = net->is_tap = true;
	return 0;
}

void virtio_net_close(struct virtio_net *net)
{
	if (net->frame == NULL)
		return;
	pthread_mutex_lock(&net->announce_lock);
	net->announce_stop = true;
	pthread_cond_broadcast(&net->announce_cond);
	pthread_mutex_unlock(&net->announce_lock);
	virtio_net_announce_wait(net);
	if (net->owns_fd)
		close(net->fd);
	net->owns_fd = false;
	net->fd = -1;
	free(net->frame);
	net->frame = NULL;
	pthread_mutex_destroy(&net->announce_lock);
	pthread_cond_destroy(&net->announce_cond);
}
