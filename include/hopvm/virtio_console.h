/* virtio-console (virtio 1.x, 5.3), one port: Linux's hvc0.  What the guest writes leaves in
 * whole buffers (no exit per byte) for hopvm's console output, as COM1's does, or for a file
 * (two consoles on one terminal interleave mid-line).  Input comes from in_fd when there is
 * one (hopvm exec's channel); otherwise the receive queue gets nothing, as hopvm's input
 * goes to COM1. */
#ifndef HOPVM_VIRTIO_CONSOLE_H
#define HOPVM_VIRTIO_CONSOLE_H

#include "hopvm/virtio.h"

#define VIRTIO_CONSOLE_RX 0
#define VIRTIO_CONSOLE_TX 1

struct virtio_console {
	struct virtio_device vdev;
	int out_fd;
	bool owns_out_fd;
	int in_fd;		/* the caller's, or -1 (also after its end of file) */
};

/* Output to PATH (created, or appended to) if not NULL, else to out_fd, which stays the
 * caller's; input from in_fd (non-blocking; -1: none), also the caller's. */
int virtio_console_open(struct virtio_console *con, struct guest_mem *mem, const char *path,
			int out_fd, int in_fd);
void virtio_console_close(struct virtio_console *con);

extern const struct virtio_device_ops virtio_console_ops;

#endif
