#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

#include "hopvm/fd_io.h"

void fd_write_all(int fd, const void *data, size_t len, int stall_ms)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd w = { .fd = fd, .events = POLLOUT };

			if (poll(&w, 1, stall_ms) <= 0)
				return;
		} else if (!(n < 0 && errno == EINTR)) {
			return;
		}
	}
}
