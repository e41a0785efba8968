#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/fd_io.h"
#include "hopvm/exec_relay.h"
#include "hopvm/le.h"
#include "hopvm/threads.h"
#include "hopvm/vm.h"

static void broken(struct exec_relay *r, const char *what)
{
	r->outcome = EXEC_RELAY_BROKEN;
	snprintf(r->message, sizeof(r->message), "the guest's init sent %s", what);
}

/* One whole frame from the guest. */
static void take_frame(struct exec_relay *r, uint8_t type, const uint8_t *data, uint32_t len)
{
	switch (type) {
	case EXEC_FRAME_STDOUT:
		fd_write_all(r->out_fd, data, len, -1);
		break;
	case EXEC_FRAME_STDERR:
		fd_write_all(r->err_fd, data, len, -1);
		break;
	case EXEC_FRAME_READY:
		r->ready = true;
		break;
	case EXEC_FRAME_STATUS:
		if (len != 4 || le32_get(data) > 255) {
			broken(r, "a malformed status");
			break;
		}
		r->status = (int)le32_get(data);
		r->outcome = EXEC_RELAY_STATUS;
		break;
	case EXEC_FRAME_ERROR: {
		size_t n = len < sizeof(r->message) - 1 ? len : sizeof(r->message) - 1;

		/* The guest's words, printed on the user's terminal: no control characters. */
		for (size_t i = 0; i < n; i++)
			r->message[i] = data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '?';
		r->message[n] = '\0';
		r->outcome = EXEC_RELAY_ERROR;
		break;
	}
	default:
		broken(r, "a frame of an unknown type");
	}
}

bool exec_relay_take(struct exec_relay *r, const uint8_t *data, size_t n)
{
	while (n > 0 && r->outcome == EXEC_RELAY_RUNNING) {
		size_t take = sizeof(r->rx) - r->rx_len, done = 0;

		if (take > n)
			take = n;
		memcpy(r->rx + r->rx_len, data, take);
		r->rx_len += take;
		data += take;
		n -= take;
		while (r->rx_len - done >= EXEC_FRAME_HEADER && r->outcome == EXEC_RELAY_RUNNING) {
			const uint8_t *h = r->rx + done;
			uint32_t len = le32_get(h + 4);

			if (h[1] != 0 || h[2] != 0 || h[3] != 0 || len > EXEC_FRAME_MAX) {
				broken(r, "a malformed frame header");
				break;
			}
			if (r->rx_len - done < EXEC_FRAME_HEADER + (size_t)len)
				break;
			take_frame(r, h[0], h + EXEC_FRAME_HEADER, len);
			done += EXEC_FRAME_HEADER + len;
		}
		memmove(r->rx, r->rx + done, r->rx_len - done);
		r->rx_len -= done;
	}
	return r->outcome != EXEC_RELAY_RUNNING;
}

static void flush_tx(struct exec_relay *r)
{
	while (r->tx_off < r->tx_len) {
		ssize_t n = write(r->chan_fd, r->tx + r->tx_off, r->tx_len - r->tx_off);

		if (n > 0) {
			r->tx_off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			if (!(n < 0 && errno == EAGAIN))	/* the VM is gone: drop it */
				r->tx_off = r->tx_len;
			return;
		}
	}
	r->tx_len = r->tx_off = 0;
}

void exec_relay_read_input(struct exec_relay *r)
{
	ssize_t n = 0;

	if (r->in_fd >= 0) {
		n = read(r->in_fd, r->tx + EXEC_FRAME_HEADER, EXEC_FRAME_MAX);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
	}
	if (n <= 0) {
		n = 0;		/* the end of the input, or input that broke: an end all the same */
		r->in_done = true;
	}
	memset(r->tx, 0, EXEC_FRAME_HEADER);
	r->tx[0] = EXEC_FRAME_STDIN;
	le32_put(r->tx + 4, (uint32_t)n);
	r->tx_len = EXEC_FRAME_HEADER + (size_t)n;
	r->tx_off = 0;
	flush_tx(r);
}

/* Everything readable on the channel now; true once the relay has ended. */
static bool read_channel(struct exec_relay *r)
{
	uint8_t buf[16384];

	for (;;) {
		ssize_t n = read(r->chan_fd, buf, sizeof(buf));

		if (n > 0) {
			if (exec_relay_take(r, buf, (size_t)n))
				return true;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			return n == 0;	/* the device's end closed: nothing more can come */
		}
	}
}

static void *relay_thread(void *arg)
{
	struct exec_relay *r = arg;

	if (thread_enter(THREAD_EXEC_RELAY, 0) < 0) {
		broken(r, "nothing: the relay could not start");
		snprintf(r->message, sizeof(r->message), "%s", err_msg());
		goto out;
	}
	for (;;) {
		bool want_input = r->ready && !r->in_done && r->tx_len == 0;
		struct pollfd p[3] = {
			{ .fd = r->chan_fd, .events = POLLIN | (r->tx_len ? POLLOUT : 0) },
			{ .fd = r->wake_fd, .events = POLLIN },
			{ .fd = want_input && r->in_fd >= 0 ? r->in_fd : -1, .events = POLLIN },
		};

		if (want_input && r->in_fd < 0) {
			exec_relay_read_input(r);	/* no input at all: its end at once */
			continue;
		}
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents) {
			(void)read_channel(r);	/* what the guest sent before it stopped */
			break;
		}
		if (p[0].revents & POLLOUT)
			flush_tx(r);
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && read_channel(r))
			break;
		if (p[2].revents)
			exec_relay_read_input(r);
	}
out:
	if (r->vm != NULL)
		vm_request_stop(r->vm, r->outcome == EXEC_RELAY_STATUS ? r->status : 0, NULL);
	return NULL;
}

int exec_relay_init(struct exec_relay *r, int chan_fd, int in_fd, int out_fd, int err_fd,
		    struct vm *vm)
{
	memset(r, 0, sizeof(*r));
	r->wake_fd = -1;
	r->chan_fd = chan_fd;
	r->in_fd = in_fd;
	r->out_fd = out_fd;
	r->err_fd = err_fd;
	r->vm = vm;
	r->outcome = EXEC_RELAY_RUNNING;
	if (fcntl(chan_fd, F_SETFL, fcntl(chan_fd, F_GETFL) | O_NONBLOCK) < 0)
		return err_set(-errno, "exec: the channel: %s", strerror(errno));
	r->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (r->wake_fd < 0)
		return err_set(-errno, "exec: eventfd: %s", strerror(errno));
	return 0;
}

int exec_relay_start(struct exec_relay *r)
{
	int ret = pthread_create(&r->thread, NULL, relay_thread, r);

	if (ret != 0)
		return err_set(-ret, "exec: cannot start the relay thread: %s", strerror(ret));
	r->started = true;
	return 0;
}

void exec_relay_finish(struct exec_relay *r)
{
	if (!r->started)
		return;
	(void)eventfd_write(r->wake_fd, 1);
	pthread_join(r->thread, NULL);
	r->started = false;
}

void exec_relay_free(struct exec_relay *r)
{
	exec_relay_finish(r);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	r->wake_fd = -1;
}
