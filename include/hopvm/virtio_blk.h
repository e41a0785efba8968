/* virtio-blk (virtio 1.x, 5.2) over a raw image file: read, write, flush, discard, write
 * zeroes and get-id.  Writes go to the file with pwritev; a flush makes them durable with
 * fdatasync, so what the guest flushed survives hopvm (and is on shared storage before a
 * migrated guest runs on its destination). */
#ifndef HOPVM_VIRTIO_BLK_H
#define HOPVM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "hopvm/virtio.h"

#define VIRTIO_BLK_SECTOR 512
#define VIRTIO_BLK_ID_BYTES 20

/* Request types and statuses (5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

/* Features (5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Configuration fields hopvm fills. */
#define VIRTIO_BLK_CFG_CAPACITY 0
#define VIRTIO_BLK_CFG_SEG_MAX 12
#define VIRTIO_BLK_CFG_BLK_SIZE 20
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40
#define VIRTIO_BLK_CFG_DISCARD_ALIGN 44
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS 48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG 52
#define VIRTIO_BLK_CFG_LEN 60

struct virtio_blk {
	struct virtio_device vdev;
	int fd;
	bool read_only;
	uint64_t sectors;
	char path[256];
	char id[VIRTIO_BLK_ID_BYTES];
};

/* Opens the image (read-only with read_only) and fills the device's configuration.  A
 * missing or unreadable image, or one smaller than a sector, fails with a message. */
int virtio_blk_open(struct virtio_blk *blk, const char *path, bool read_only, unsigned index,
		    struct guest_mem *mem) __attribute__((warn_unused_result));
void virtio_blk_close(struct virtio_blk *blk);

/* Serves one request chain; returns the bytes written into it (data, then the status byte),
 * or -EIO when the chain cannot carry a request at all (no header or status byte). */
int virtio_blk_request(struct virtio_blk *blk, struct virtq_chain *c);

/* Parses --disk's value: PATH or PATH,ro.  -EINVAL with a message for anything else. */
int virtio_blk_parse_option(const char *text, char *path, size_t path_len, bool *read_only)
	__attribute__((warn_unused_result));

extern const struct virtio_device_ops virtio_blk_ops;

#endif
