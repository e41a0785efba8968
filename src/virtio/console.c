#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/fd_io.h"
#include "hopvm/virtio_console.h"

static int serve_tx(struct virtio_device *vd, struct virtq_chain *c)
{
	struct virtio_console *con = vd->priv;

	/* As COM1's output: a slow reader slows the guest, a closed one costs it its console. */
	for (unsigned i = 0; i < c->nr_out; i++)
		fd_write_all(con->out_fd, c->bufs[i].host, c->bufs[i].len, 1000);
	return 0;
}

static int virtio_console_queue_notify(struct virtio_device *vd, unsigned q)
{
	/* Receive buffers stay with the device until there is input for them: the I/O thread
	 * waits on in_fd while the guest has some posted (console_input_fd). */
	if (q != VIRTIO_CONSOLE_TX)
		return 0;
	return virtio_queue_serve(vd, q, serve_tx);
}

static int console_input_fd(struct virtio_device *vd)
{
	struct virtio_console *con = vd->priv;
	struct virtq *rx = &vd->vq[VIRTIO_CONSOLE_RX];

	if (con->in_fd < 0 || !rx->enabled || !virtq_has_available(rx))
		return -1;
	return con->in_fd;
}

/* One receive buffer's worth per call: the I/O thread comes back while in_fd stays readable. */
static int console_input_ready(struct virtio_device *vd)
{
	struct virtio_console *con = vd->priv;
	struct virtq *rx = &vd->vq[VIRTIO_CONSOLE_RX];
	struct virtq_chain c;
	struct iovec iov[VIRTQ_MAX_SIZE];
	ssize_t n;
	int count, ret = virtq_pop(rx, &c);

	if (ret <= 0)
		return ret;
	count = virtq_chain_iov(&c, true, 0, c.in_len, iov, VIRTQ_MAX_SIZE);
	if (count <= 0) {
		virtq_push(rx, &c, 0);	/* a chain with no room: given back empty */
		virtio_queue_interrupt(vd, VIRTIO_CONSOLE_RX);
		return 0;
	}
	n = readv(con->in_fd, iov, count);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		virtq_unpop(rx, 1);
		return 0;
	}
	if (n <= 0) {
		/* The end of the input (or a broken one): the guest keeps its buffers. */
		virtq_unpop(rx, 1);
		con->in_fd = -1;
		return 0;
	}
	virtq_push(rx, &c, (uint32_t)n);
	virtio_queue_interrupt(vd, VIRTIO_CONSOLE_RX);
	return 0;
}

const struct virtio_device_ops virtio_console_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.pci_class = 0x078000,	/* communication, other */
	.nr_queues = 2,
	.queue_notify = virtio_console_queue_notify,
	.input_fd = console_input_fd,
	.input_ready = console_input_ready,
};

int virtio_console_open(struct virtio_console *con, struct guest_mem *mem, const char *path,
			int out_fd, int in_fd)
{
	con->out_fd = out_fd;
	con->in_fd = in_fd;
	con->owns_out_fd = false;
	if (path != NULL) {
		con->out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (con->out_fd < 0)
			return err_set(-errno, "--virtio-console: cannot open %s: %s", path,
				       strerror(errno));
		con->owns_out_fd = true;
	}
	virtio_device_init(&con->vdev, &virtio_console_ops, con, mem, 0, 0);
	return 0;
}

void virtio_console_close(struct virtio_console *con)
{
	if (con->owns_out_fd)
		close(con->out_fd);
	con->owns_out_fd = false;
	con->out_fd = -1;
}
