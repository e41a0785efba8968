/* A split virtqueue (virtio 1.x, section 2.7) seen from the device: the driver's descriptor
 * table and available ring in, the used ring out.
 *
 * Everything in guest RAM is the guest's to change at any moment, so each field is read once
 * into a local copy and checked before use.  Every guest address and length becomes a host
 * pointer through guest_mem_ptr() alone; a chain is bounded by the queue size (indirect tables
 * included) so a loop ends as an error; anything malformed makes virtq_pop() fail with a
 * message, and the transport then puts the device into DEVICE_NEEDS_RESET. */
#ifndef HOPVM_VIRTIO_QUEUE_H
#define HOPVM_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hopvm/memory.h"

#define VIRTQ_MAX_SIZE 256

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq {
	/* Set by the driver through the transport; checked by virtq_enable(). */
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx;		/* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;		/* VIRTIO_F_INDIRECT_DESC negotiated */

	bool enabled;
	uint16_t last_avail_idx;	/* the next available entry the device takes */
	uint16_t used_idx;		/* the device's copy of used->idx */
	uint16_t signalled_used;	/* used_idx when the driver was last interrupted */

	struct guest_mem *mem;
	uint8_t *desc, *avail, *used;	/* host pointers, valid while enabled */
};

/* One buffer of a chain, already checked to lie wholly in guest RAM. */
struct virtq_buf {
	uint64_t gpa;
	uint8_t *host;
	uint32_t len;
};

struct virtq_chain {
	uint16_t head;
	unsigned nr_out, nr_in;		/* readable buffers first, then writable */
	uint64_t out_len, in_len;	/* their total lengths */
	struct virtq_buf bufs[VIRTQ_MAX_SIZE];
};

/* The queue in its reset state, its memory in mem. */
void virtq_init(struct virtq *q, struct guest_mem *mem);

/* Checks the driver's layout (a power-of-two size up to VIRTQ_MAX_SIZE, aligned rings wholly
 * in RAM) and starts using it.  -EINVAL with a message otherwise. */
int virtq_enable(struct virtq *q) __attribute__((warn_unused_result));

/* Takes the next available chain: 1 with *c filled, 0 if none is there, -EIO with a message
 * for a broken ring (after which the queue must not be used until reset). */
int virtq_pop(struct virtq *q, struct virtq_chain *c) __attribute__((warn_unused_result));

/* Whether the driver has made a chain available that virtq_pop() has not taken yet (a
 * device that must not take input it could not place asks first). */
bool virtq_has_available(const struct virtq *q);

/* Gives back the last n chains popped and not pushed, as if never taken: a device that found
 * them too small for what it had leaves them for the next (virtio-net's receive). */
void virtq_unpop(struct virtq *q, uint16_t n);

/* Returns a chain to the driver with written bytes written into its writable buffers (whose
 * pages, with the used ring's, are marked dirty for migration). */
void virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written);

/* After the device has drained the queue: asks the driver for a notification of the next
 * chain (EVENT_IDX's avail_event) and returns true if one arrived meanwhile. */
bool virtq_more_after_enable(struct virtq *q);

/* For a device that cannot use the chains already there (too little room for what it has):
 * asks for a notification of the next chain the driver adds (avail_event at the available
 * index, not at the device's own) and returns true if one arrived meanwhile. */
bool virtq_notify_on_new(struct virtq *q);

/* Whether the driver wants an interrupt for what was pushed since the last one; if so, the
 * caller sends it.  Honours used_event (EVENT_IDX) or VIRTQ_AVAIL_F_NO_INTERRUPT. */
bool virtq_should_interrupt(struct virtq *q);

/* Gathers and scatters across a chain's buffers, starting off bytes into its readable part
 * (virtq_chain_read) or writable part (virtq_chain_write).  They return the bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, size_t len);

/* Fills iov (at most max entries) with the part [off, off + len) of the readable (in=false)
 * or writable (in=true) buffers; returns the count, or -EINVAL if the range is not there. */
int virtq_chain_iov(const struct virtq_chain *c, bool in, uint64_t off, uint64_t len,
		    struct iovec *iov, unsigned max);

#endif
