#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "hopvm/virtio_console.h"

/* Like COM1's output: nothing lost to a slow or non-blocking fd, but a closed one only costs
 * the guest its console. */
static void write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd w = { .fd = fd, .events = POLLOUT };

			if (poll(&w, 1, 1000) <= 0)
				return;
		} else if (!(n < 0 && errno == EINTR)) {
			return;
		}
	}
}

static int serve_tx(struct virtio_device *vd, struct virtq_chain *c)
{
	struct virtio_console *con = vd->priv;

	for (unsigned i = 0; i < c->nr_out; i++)
		write_all(con->out_fd, c->bufs[i].host, c->bufs[i].len);
	return 0;
}

static int virtio_console_queue_notify(struct virtio_device *vd, unsigned q)
{
	/* Receive buffers stay with the device until there is input for them: none yet. */
	if (q != VIRTIO_CONSOLE_TX)
		return 0;
	return virtio_queue_serve(vd, q, serve_tx);
}

const struct virtio_device_ops virtio_console_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.pci_class = 0x078000,	/* communication, other */
	.nr_queues = 2,
	.queue_notify = virtio_console_queue_notify,
};

void virtio_console_init(struct virtio_console *con, struct guest_mem *mem, int out_fd)
{
	con->out_fd = out_fd;
	virtio_device_init(&con->vdev, &virtio_console_ops, con, mem, 0, 0);
}
