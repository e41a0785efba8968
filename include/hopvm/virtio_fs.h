/* virtio-fs (virtio 1.x, 5.11): a host directory shared with the guest, which mounts it with
 * `mount -t virtiofs TAG DIR`.  Each request is a FUSE message served by hopvm's own file
 * server (fuse_server.h) on the device's I/O thread, under the virtio-fs seccomp filter: no
 * external virtiofsd.  Queue 0 is the high-priority queue (FORGET, INTERRUPT), queue 1 the one
 * request queue.  No DAX window.
 *
 * A guest's malformed request gets an errno in its reply; one that cannot be answered at all
 * (no FUSE header, no room for a reply) is given back empty.  Each kind of misuse is said once
 * on stderr; the device keeps serving.  A VM with a share cannot migrate: the guest's node ids
 * and open files live in this hopvm's file server (save refuses, naming the share). */
#ifndef HOPVM_VIRTIO_FS_H
#define HOPVM_VIRTIO_FS_H

#include <stdbool.h>
#include <limits.h>

#include "hopvm/virtio.h"

#define VIRTIO_FS_TAG_MAX 36	/* the config's tag field: UTF-8, NUL-padded, no NUL needed */
#define VIRTIO_FS_HIPRIO_QUEUE 0
#define VIRTIO_FS_REQUEST_QUEUE 1

/* --share PATH,tag=TAG[,rw] */
struct virtio_fs_option {
	char path[PATH_MAX];
	char tag[VIRTIO_FS_TAG_MAX + 1];
	bool read_only;
};

struct fuse_server;

struct virtio_fs {
	struct virtio_device vdev;
	struct fuse_server *server;
	struct virtio_fs_option opt;
	bool unanswerable_logged;	/* a request with no room for an errno, said once */
};

/* Parses --share's value.  -EINVAL with a message for a missing path or tag, a tag longer than
 * VIRTIO_FS_TAG_MAX bytes, an unknown key. */
int virtio_fs_parse_option(const char *text, struct virtio_fs_option *opt)
	__attribute__((warn_unused_result));

/* Opens the share (an existing directory, else a message naming it) and fills the config. */
int virtio_fs_open(struct virtio_fs *fs, struct guest_mem *mem, const struct virtio_fs_option *opt)
	__attribute__((warn_unused_result));
void virtio_fs_close(struct virtio_fs *fs);

extern const struct virtio_device_ops virtio_fs_ops;

#endif
