#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "hopvm/error.h"
#include "hopvm/virtio_rng.h"

/* Each request gets at most this much: a guest asking for gigabytes waits its turn. */
#define MAX_BYTES_PER_REQUEST 65536

static int serve(struct virtio_device *vd, struct virtq_chain *c)
{
	uint32_t done = 0;

	(void)vd;
	for (unsigned i = c->nr_out; i < c->nr_out + c->nr_in && done < MAX_BYTES_PER_REQUEST;
	     i++) {
		uint32_t want = c->bufs[i].len, got = 0;

		if (want > MAX_BYTES_PER_REQUEST - done)
			want = MAX_BYTES_PER_REQUEST - done;
		while (got < want) {
			ssize_t n = getrandom(c->bufs[i].host + got, want - got, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return err_set(-EIO, "getrandom: %s", strerror(errno));
			got += (uint32_t)n;
		}
		done += got;
	}
	return (int)done;
}

static int virtio_rng_queue_notify(struct virtio_device *vd, unsigned q)
{
	return virtio_queue_serve(vd, q, serve);
}

const struct virtio_device_ops virtio_rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.pci_class = 0x00ff00,	/* unclassified */
	.nr_queues = 1,
	.queue_notify = virtio_rng_queue_notify,
};

void virtio_rng_init(struct virtio_rng *rng, struct guest_mem *mem)
{
	virtio_device_init(&rng->vdev, &virtio_rng_ops, rng, mem, 0, 0);
}
