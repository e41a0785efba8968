/* libFuzzer harness for the virtqueue walk and virtio-blk's request parser: the input is a
 * guest's RAM (descriptor table, available ring, buffers, all the guest's to choose), the
 * first bytes pick the queue's size and negotiated features.  Every chain popped is served by
 * virtio-blk over a small image in a memfd, as the device's I/O thread would; the walk must
 * end (no loop), never touch memory outside the buffer, and a broken ring must stop the queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/virtio_blk.h"

#define RAM_SIZE (64U << 10)
#define IMAGE_SIZE (16U << 10)
#define HEADER 4	/* size choice, features, avail index (2 bytes) */
#define MAX_POPS (2 * VIRTQ_MAX_SIZE)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;
static struct guest_mem mem;
static struct virtio_blk blk;
static char image_path[64];

static void once(void)
{
	int fd;

	if (ram != NULL)
		return;
	/* Guest RAM ends exactly at the end of a heap buffer, so ASan sees any overrun. */
	ram = malloc(RAM_SIZE);
	fd = memfd_create("fuzz-disk", 0);
	if (ram == NULL || fd < 0 || ftruncate(fd, IMAGE_SIZE) < 0)
		abort();
	snprintf(image_path, sizeof(image_path), "/proc/self/fd/%d", fd);
	if (virtio_blk_open(&blk, image_path, false, 0, &mem) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtq q;
	struct virtq_chain c;
	unsigned pops = 0;
	int ret;

	once();
	if (size < HEADER)
		return 0;
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + HEADER, size - HEADER < RAM_SIZE ? size - HEADER : RAM_SIZE);
	guest_mem_init_buffer(&mem, ram, RAM_SIZE);

	virtq_init(&q, &mem);
	q.size = (uint16_t)(1U << (data[0] % 9));	/* 1 to 256 */
	q.indirect = data[1] & 1;
	q.event_idx = data[1] & 2;
	/* The rings at fixed places; the descriptors and buffers are the input's. */
	q.desc_gpa = 0;
	q.avail_gpa = 16ULL * q.size;
	q.used_gpa = RAM_SIZE - 8ULL * q.size - 8;
	q.used_gpa &= ~3ULL;
	le16_put(ram + q.avail_gpa + 2, le16_get(data + 2));
	if (virtq_enable(&q) < 0)
		return 0;
	while (pops++ < MAX_POPS && (ret = virtq_pop(&q, &c)) == 1) {
		int written = virtio_blk_request(&blk, &c);

		/* Every buffer of the chain lies in RAM. */
		for (unsigned i = 0; i < c.nr_out + c.nr_in; i++)
			if (c.bufs[i].len > 0 && (c.bufs[i].host < ram ||
						  c.bufs[i].host + c.bufs[i].len > ram + RAM_SIZE))
				abort();
		if (written >= 0)
			virtq_push(&q, &c, (uint32_t)written);
		(void)virtq_should_interrupt(&q);
	}
	if (pops > MAX_POPS)
		abort();	/* the available index cannot offer more than size at once */
	(void)virtq_more_after_enable(&q);
	return 0;
}
