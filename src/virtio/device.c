#include <errno.h>
#include <string.h>

#include "hopvm/virtio.h"

void virtio_device_init(struct virtio_device *vd, const struct virtio_device_ops *ops,
			void *priv, struct guest_mem *mem, uint64_t features, unsigned config_len)
{
	memset(vd, 0, sizeof(*vd));
	vd->ops = ops;
	vd->priv = priv;
	vd->mem = mem;
	vd->host_features = features;
	vd->config_len = config_len <= VIRTIO_CONFIG_MAX ? config_len : VIRTIO_CONFIG_MAX;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		virtq_init(&vd->vq[q], mem);
}

int virtio_queue_serve(struct virtio_device *vd, unsigned q,
		       int (*serve)(struct virtio_device *vd, struct virtq_chain *c))
{
	struct virtq *vq = &vd->vq[q];
	struct virtq_chain c;

	do {
		int ret;

		while ((ret = virtq_pop(vq, &c)) == 1) {
			int written = serve(vd, &c);

			if (written < 0)
				return written;
			virtq_push(vq, &c, (uint32_t)written);
			virtio_queue_interrupt(vd, q);
		}
		if (ret < 0)
			return ret;
	} while (virtq_more_after_enable(vq));
	return 0;
}
