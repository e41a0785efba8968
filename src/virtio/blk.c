#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/virtio_blk.h"

#define HEADER_LEN 16		/* type, reserved, sector */
#define DISCARD_SEG_LEN 16	/* sector, num_sectors, flags */
#define SEG_MAX (VIRTQ_MAX_SIZE - 2)	/* the header and the status byte take two */
#define MAX_DISCARD_SEGS 32
#define MAX_DISCARD_SECTORS (1U << 22)	/* 2 GiB a request */
#define WZ_UNMAP 1
#define MAX_REQUEST_BYTES (1U << 30)

static struct virtio_blk *of_vdev(struct virtio_device *vd)
{
	return vd->priv;
}

static bool in_range(const struct virtio_blk *blk, uint64_t sector, uint64_t bytes)
{
	uint64_t sectors = bytes / VIRTIO_BLK_SECTOR;

	return bytes % VIRTIO_BLK_SECTOR == 0 && sector <= blk->sectors &&
	       sectors <= blk->sectors - sector;
}

/* Reads or writes the data buffers, which lie between the header and the status byte. */
static uint8_t rw(struct virtio_blk *blk, const struct virtq_chain *c, bool write,
		  uint64_t sector)
{
	struct iovec iov[VIRTQ_MAX_SIZE];
	uint64_t len = write ? c->out_len - HEADER_LEN : c->in_len - 1;
	int n = virtq_chain_iov(c, !write, write ? HEADER_LEN : 0, len, iov, VIRTQ_MAX_SIZE);
	off_t pos = (off_t)(sector * VIRTIO_BLK_SECTOR);

	if (n < 0 || !in_range(blk, sector, len))
		return VIRTIO_BLK_S_IOERR;
	if (write && blk->read_only)
		return VIRTIO_BLK_S_IOERR;
	/* Whole iovecs in a loop: a short transfer is retried from where it stopped. */
	for (int i = 0; i < n;) {
		ssize_t done = write ? pwritev(blk->fd, iov + i, n - i, pos)
				     : preadv(blk->fd, iov + i, n - i, pos);

		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return VIRTIO_BLK_S_IOERR;
		pos += done;
		while (i < n && (size_t)done >= iov[i].iov_len)
			done -= (ssize_t)iov[i++].iov_len;
		if (i < n) {
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + done;
			iov[i].iov_len -= (size_t)done;
		}
	}
	return VIRTIO_BLK_S_OK;
}

/* Discard and write zeroes: a list of segments after the header. */
static uint8_t discard(struct virtio_blk *blk, const struct virtq_chain *c, bool zeroes)
{
	uint64_t len = c->out_len - HEADER_LEN;

	if (blk->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (len == 0 || len % DISCARD_SEG_LEN || len / DISCARD_SEG_LEN > MAX_DISCARD_SEGS)
		return VIRTIO_BLK_S_UNSUPP;
	for (uint64_t off = HEADER_LEN; off < c->out_len; off += DISCARD_SEG_LEN) {
		uint8_t seg[DISCARD_SEG_LEN];
		uint64_t sector;
		uint32_t count, flags;
		int mode = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE;

		virtq_chain_read(c, off, seg, sizeof(seg));
		sector = le64_get(seg);
		count = le32_get(seg + 8);
		flags = le32_get(seg + 12);
		if (flags & ~(uint32_t)(zeroes ? WZ_UNMAP : 0))
			return VIRTIO_BLK_S_UNSUPP;
		if (count > MAX_DISCARD_SECTORS ||
		    !in_range(blk, sector, (uint64_t)count * VIRTIO_BLK_SECTOR))
			return VIRTIO_BLK_S_IOERR;
		if (zeroes && !(flags & WZ_UNMAP))
			mode = FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE;
		/* A file system without holes still reads back zeroes once written with them. */
		if (fallocate(blk->fd, mode, (off_t)(sector * VIRTIO_BLK_SECTOR),
			      (off_t)count * VIRTIO_BLK_SECTOR) < 0 && (zeroes || errno != EOPNOTSUPP))
			return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

int virtio_blk_request(struct virtio_blk *blk, struct virtq_chain *c)
{
	uint8_t header[HEADER_LEN], status;
	uint64_t sector;

	/* Without a header or a byte for the status there is no way to answer. */
	if (c->out_len < HEADER_LEN || c->in_len < 1)
		return err_set(-EIO, "a request (chain head %u) has %s", c->head,
			       c->out_len < HEADER_LEN ? "no complete header" : "no status byte");
	if (c->in_len > MAX_REQUEST_BYTES || c->out_len > MAX_REQUEST_BYTES)
		return err_set(-EIO, "a request (chain head %u) of more than %u bytes", c->head,
			       MAX_REQUEST_BYTES);
	virtq_chain_read(c, 0, header, sizeof(header));
	sector = le64_get(header + 8);
	switch (le32_get(header)) {
	case VIRTIO_BLK_T_IN:
		status = rw(blk, c, false, sector);
		break;
	case VIRTIO_BLK_T_OUT:
		status = rw(blk, c, true, sector);
		break;
	case VIRTIO_BLK_T_FLUSH:
		status = fdatasync(blk->fd) == 0 || blk->read_only ? VIRTIO_BLK_S_OK
								   : VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID:
		virtq_chain_write(c, 0, blk->id, c->in_len - 1 < VIRTIO_BLK_ID_BYTES ?
				  c->in_len - 1 : VIRTIO_BLK_ID_BYTES);
		status = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_DISCARD:
		status = discard(blk, c, false);
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		status = discard(blk, c, true);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
	}
	/* The status is the last writable byte, whatever came before it; the used length
	 * covers all of them, so migration sees every page the request may have written. */
	virtq_chain_write(c, c->in_len - 1, &status, 1);
	return (int)c->in_len;
}

static int serve(struct virtio_device *vd, struct virtq_chain *c)
{
	return virtio_blk_request(of_vdev(vd), c);
}

static int virtio_blk_queue_notify(struct virtio_device *vd, unsigned q)
{
	return virtio_queue_serve(vd, q, serve);
}

const struct virtio_device_ops virtio_blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.pci_class = 0x018000,	/* mass storage, other */
	.nr_queues = 1,
	.queue_notify = virtio_blk_queue_notify,
};

int virtio_blk_open(struct virtio_blk *blk, const char *path, bool read_only, unsigned index,
		    struct guest_mem *mem)
{
	uint64_t features = VIRTIO_F(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_F(VIRTIO_BLK_F_BLK_SIZE) |
			    VIRTIO_F(VIRTIO_BLK_F_FLUSH);
	uint8_t *cfg;
	struct stat st;

	memset(blk, 0, sizeof(*blk));
	blk->fd = -1;
	if (strlen(path) >= sizeof(blk->path))
		return err_set(-ENAMETOOLONG, "disk image path '%s' is too long", path);
	blk->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (blk->fd < 0)
		return err_set(-errno, "disk image '%s': %s%s", path, strerror(errno),
			       errno == EACCES || errno == EROFS ? " (add ,ro to use it read-only)"
								 : "");
	if (fstat(blk->fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
		virtio_blk_close(blk);
		return err_set(-EINVAL, "disk image '%s' is not a regular file or block device",
			       path);
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(blk->fd, 0, SEEK_END);

		st.st_size = end < 0 ? 0 : end;
	}
	if (st.st_size < VIRTIO_BLK_SECTOR) {
		virtio_blk_close(blk);
		return err_set(-EINVAL, "disk image '%s' holds %lld bytes, less than one sector "
			       "(%d)", path, (long long)st.st_size, VIRTIO_BLK_SECTOR);
	}
	strcpy(blk->path, path);
	blk->read_only = read_only;
	blk->sectors = (uint64_t)st.st_size / VIRTIO_BLK_SECTOR;
	snprintf(blk->id, sizeof(blk->id), "hopvm-disk%u", index);
	if (read_only)
		features |= VIRTIO_F(VIRTIO_BLK_F_RO);
	else
		features |= VIRTIO_F(VIRTIO_BLK_F_DISCARD) | VIRTIO_F(VIRTIO_BLK_F_WRITE_ZEROES);
	virtio_device_init(&blk->vdev, &virtio_blk_ops, blk, mem, features, VIRTIO_BLK_CFG_LEN);
	cfg = blk->vdev.config;
	le64_put(cfg + VIRTIO_BLK_CFG_CAPACITY, blk->sectors);
	le32_put(cfg + VIRTIO_BLK_CFG_SEG_MAX, SEG_MAX);
	le32_put(cfg + VIRTIO_BLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR);
	le32_put(cfg + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, MAX_DISCARD_SECTORS);
	le32_put(cfg + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, MAX_DISCARD_SEGS);
	le32_put(cfg + VIRTIO_BLK_CFG_DISCARD_ALIGN, 1);
	le32_put(cfg + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, MAX_DISCARD_SECTORS);
	le32_put(cfg + VIRTIO_BLK_CFG_MAX_WZ_SEG, MAX_DISCARD_SEGS);
	return 0;
}

void virtio_blk_close(struct virtio_blk *blk)
{
	if (blk->fd >= 0) {
		if (!blk->read_only)
			(void)fdatasync(blk->fd);
		close(blk->fd);
	}
	blk->fd = -1;
}

int virtio_blk_parse_option(const char *text, char *path, size_t path_len, bool *read_only)
{
	const char *comma = strrchr(text, ',');
	size_t n = comma != NULL ? (size_t)(comma - text) : strlen(text);

	*read_only = false;
	if (comma != NULL) {
		if (strcmp(comma + 1, "ro") != 0)
			return err_set(-EINVAL, "--disk '%s': the only option after the path is "
				       "',ro', not ',%s'", text, comma + 1);
		*read_only = true;
	}
	if (n == 0)
		return err_set(-EINVAL, "--disk '%s' names no image", text);
	if (n >= path_len)
		return err_set(-ENAMETOOLONG, "--disk '%s': the path is too long", text);
	memcpy(path, text, n);
	path[n] = '\0';
	return 0;
}
