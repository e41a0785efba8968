#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "hopvm/error.h"
#include "hopvm/fuse_server.h"
#include "hopvm/le.h"
#include "hopvm/virtio_fs.h"

/* Configuration (5.11.4): the tag, then the number of request queues. */
#define CFG_TAG 0
#define CFG_NUM_REQUEST_QUEUES 36
#define CFG_LEN 40

/* Serves one FUSE request: the readable buffers hold it, the writable ones take the reply. */
static int serve(struct virtio_device *vd, struct virtq_chain *c)
{
	struct virtio_fs *fs = vd->priv;
	struct iovec in[VIRTQ_MAX_SIZE], out[VIRTQ_MAX_SIZE];
	int nr_in = 0, nr_out = 0, ret;
	char why[256];

	if (c->out_len > 0)
		nr_in = virtq_chain_iov(c, false, 0, c->out_len, in, VIRTQ_MAX_SIZE);
	if (c->in_len > 0)
		nr_out = virtq_chain_iov(c, true, 0, c->in_len, out, VIRTQ_MAX_SIZE);
	if (nr_in < 0 || nr_out < 0)
		return err_set(-EIO, "a chain's buffers do not add up");
	ret = fuse_server_handle(fs->server, in, (unsigned)nr_in, out, (unsigned)nr_out);
	/* Guest misuse answered with an errno: one line per kind. */
	if (fuse_server_new_refusal(fs->server, why, sizeof(why)))
		fprintf(stderr, "hopvm: virtio-fs (%s): %s; further ones of this kind are not "
			"reported\n", fs->opt.tag, why);
	if (ret < 0) {
		/* Nowhere to put an errno: the chain goes back empty and the device serves on. */
		if (!fs->unanswerable_logged) {
			fs->unanswerable_logged = true;
			fprintf(stderr, "hopvm: virtio-fs (%s): a request could not be answered: %s; "
				"further ones are not reported\n", fs->opt.tag, err_msg());
		}
		return 0;
	}
	return ret;
}

static int virtio_fs_queue_notify(struct virtio_device *vd, unsigned q)
{
	return virtio_queue_serve(vd, q, serve);
}

static int virtio_fs_save(struct virtio_device *vd, struct state_buf *s)
{
	struct virtio_fs *fs = vd->priv;

	(void)s;
	return err_set(-EOPNOTSUPP, "the guest has the share '%s' (%s) open: its files and node "
		       "ids live in this hopvm's file server, which cannot move", fs->opt.tag,
		       fs->opt.path);
}

const struct virtio_device_ops virtio_fs_ops = {
	.name = "virtio-fs",
	.device_id = VIRTIO_ID_FS,
	.pci_class = 0x018000,	/* mass storage, other */
	.nr_queues = 2,
	.io_thread = THREAD_VIRTIO_FS,
	.queue_notify = virtio_fs_queue_notify,
	.save = virtio_fs_save,
};

int virtio_fs_parse_option(const char *text, struct virtio_fs_option *opt)
{
	char buf[PATH_MAX + 64], *save = NULL, *word;
	bool first = true;

	memset(opt, 0, sizeof(*opt));
	opt->read_only = true;
	if (strlen(text) >= sizeof(buf))
		return err_set(-EINVAL, "--share: '%.40s...' is too long", text);
	strcpy(buf, text);
	for (word = strtok_r(buf, ",", &save); word != NULL;
	     word = strtok_r(NULL, ",", &save), first = false) {
		if (first && strchr(word, '=') == NULL) {
			if (strlen(word) >= sizeof(opt->path))
				return err_set(-EINVAL, "--share: the path is too long");
			strcpy(opt->path, word);
		} else if (strncmp(word, "tag=", 4) == 0) {
			size_t len = strlen(word + 4);

			if (len == 0 || len > VIRTIO_FS_TAG_MAX)
				return err_set(-EINVAL, "--share: the tag '%s' must be 1 to %d bytes",
					       word + 4, VIRTIO_FS_TAG_MAX);
			memcpy(opt->tag, word + 4, len + 1);
		} else if (strcmp(word, "rw") == 0) {
			opt->read_only = false;
		} else if (strcmp(word, "ro") == 0) {
			opt->read_only = true;
		} else {
			return err_set(-EINVAL, "--share: unknown '%s' (PATH,tag=TAG[,rw])", word);
		}
	}
	if (opt->path[0] == '\0')
		return err_set(-EINVAL, "--share: give a directory first: PATH,tag=TAG[,rw]");
	if (opt->tag[0] == '\0')
		return err_set(-EINVAL, "--share %s: give its tag: PATH,tag=TAG[,rw]", opt->path);
	return 0;
}

int virtio_fs_open(struct virtio_fs *fs, struct guest_mem *mem, const struct virtio_fs_option *opt)
{
	int ret;

	memset(fs, 0, sizeof(*fs));
	fs->opt = *opt;
	ret = fuse_server_open(&fs->server, opt->path, opt->read_only);
	if (ret < 0)
		return ret;	/* its message names the path */
	virtio_device_init(&fs->vdev, &virtio_fs_ops, fs, mem, 0, CFG_LEN);
	memcpy(fs->vdev.config + CFG_TAG, opt->tag, strlen(opt->tag));
	le32_put(fs->vdev.config + CFG_NUM_REQUEST_QUEUES, 1);
	return 0;
}

void virtio_fs_close(struct virtio_fs *fs)
{
	if (fs->server != NULL)
		fuse_server_close(fs->server);
	fs->server = NULL;
}
