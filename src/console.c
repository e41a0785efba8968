#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "hopvm/console.h"
#include "hopvm/error.h"
#include "hopvm/vm.h"

/* How often the input thread looks at the stop flag, and retries a full FIFO. */
#define CONSOLE_POLL_MS 50
#define CONSOLE_FIFO_RETRY_US 1000

static void *console_input_thread(void *arg)
{
	struct console_input *in = arg;
	uint8_t buf[256];
	size_t len = 0, off = 0;

	while (!vm_stop_requested(in->vm)) {
		if (off == len) {
			struct pollfd p = { .fd = in->fd, .events = POLLIN };
			ssize_t n;

			if (poll(&p, 1, CONSOLE_POLL_MS) <= 0)
				continue;
			n = read(in->fd, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				break;	/* end of input: the guest just hears nothing more */
			len = (size_t)n;
			off = 0;
		}
		off += uart_16550_receive(&in->vm->com1, buf + off, len - off);
		if (off < len)
			usleep(CONSOLE_FIFO_RETRY_US);	/* FIFO full: let the guest read */
	}
	return NULL;
}

int console_input_start(struct console_input *in, struct vm *vm, int fd)
{
	int ret;

	memset(in, 0, sizeof(*in));
	in->vm = vm;
	in->fd = fd;
	if (fd < 0)
		return 0;
	ret = pthread_create(&in->thread, NULL, console_input_thread, in);
	if (ret != 0)
		return err_set(-ret, "cannot start the console input thread: %s", strerror(ret));
	in->running = true;
	return 0;
}

void console_input_stop(struct console_input *in)
{
	if (in->running)
		pthread_join(in->thread, NULL);
	in->running = false;
}
