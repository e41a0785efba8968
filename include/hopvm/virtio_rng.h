/* virtio-rng (virtio 1.x, 5.4): the guest's writable buffers filled from getrandom(). */
#ifndef HOPVM_VIRTIO_RNG_H
#define HOPVM_VIRTIO_RNG_H

#include "hopvm/virtio.h"

struct virtio_rng {
	struct virtio_device vdev;
};

void virtio_rng_init(struct virtio_rng *rng, struct guest_mem *mem);

extern const struct virtio_device_ops virtio_rng_ops;

#endif
