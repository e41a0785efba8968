#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hopvm/error.h"
#include "hopvm/le.h"
#include "hopvm/virtio_queue.h"

#define DESC_SIZE 16
/* Offsets in the rings (virtio 1.x, 2.7.6 and 2.7.8). */
#define RING_FLAGS 0
#define RING_IDX 2
#define RING_ENTRIES 4
#define USED_ELEM_SIZE 8

static uint64_t desc_bytes(uint16_t size)
{
	return (uint64_t)DESC_SIZE * size;
}

static uint64_t avail_bytes(uint16_t size)
{
	return RING_ENTRIES + 2ULL * size + 2;	/* flags, idx, ring, used_event */
}

static uint64_t used_bytes(uint16_t size)
{
	return RING_ENTRIES + (uint64_t)USED_ELEM_SIZE * size + 2;	/* ..., avail_event */
}

/* The rings are shared with a running guest: 16-bit indices are read and written whole, with
 * the ordering the virtio memory model asks for. */
static uint16_t load16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE);
}

static void store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELEASE);
}

void virtq_init(struct virtq *q, struct guest_mem *mem)
{
	memset(q, 0, sizeof(*q));
	q->size = VIRTQ_MAX_SIZE;
	q->mem = mem;
}

int virtq_enable(struct virtq *q)
{
	if (q->size == 0 || q->size > VIRTQ_MAX_SIZE || (q->size & (q->size - 1)) != 0)
		return err_set(-EINVAL, "queue size %u is not a power of two up to %u", q->size,
			       VIRTQ_MAX_SIZE);
	if (q->desc_gpa % 16 || q->avail_gpa % 2 || q->used_gpa % 4)
		return err_set(-EINVAL, "queue rings at 0x%llx, 0x%llx, 0x%llx are misaligned",
			       (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
			       (unsigned long long)q->used_gpa);
	q->desc = guest_mem_ptr(q->mem, q->desc_gpa, desc_bytes(q->size));
	q->avail = guest_mem_ptr(q->mem, q->avail_gpa, avail_bytes(q->size));
	q->used = guest_mem_ptr(q->mem, q->used_gpa, used_bytes(q->size));
	if (q->desc == NULL || q->avail == NULL || q->used == NULL)
		return err_set(-EINVAL, "queue rings at 0x%llx, 0x%llx, 0x%llx (size %u) are not "
			       "all in guest RAM", (unsigned long long)q->desc_gpa,
			       (unsigned long long)q->avail_gpa, (unsigned long long)q->used_gpa,
			       q->size);
	q->enabled = true;
	return 0;
}

/* A ring the device can no longer trust: the queue stops until the driver resets it. */
__attribute__((format(printf, 2, 3))) static int broken(struct virtq *q, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	q->enabled = false;
	return err_set(-EIO, "%s", what);
}

/* Adds the buffer a descriptor names to the chain, in readable-then-writable order. */
static int chain_add(struct virtq *q, struct virtq_chain *c, uint64_t addr, uint32_t len,
		     bool writable)
{
	struct virtq_buf *b;
	uint8_t *host = guest_mem_ptr(q->mem, addr, len);

	if (host == NULL && len > 0)
		return broken(q, "a descriptor of %u bytes at 0x%llx is outside guest RAM", len,
			      (unsigned long long)addr);
	if (!writable && c->nr_in > 0)
		return broken(q, "a readable descriptor follows a writable one (chain head %u)",
			      c->head);
	b = &c->bufs[c->nr_out + c->nr_in];
	*b = (struct virtq_buf){ .gpa = addr, .host = host, .len = len };
	if (writable) {
		c->nr_in++;
		c->in_len += len;
	} else {
		c->nr_out++;
		c->out_len += len;
	}
	return 0;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	const uint8_t *table = q->desc;
	unsigned table_size = q->size, count = 0;
	uint16_t avail_idx, idx;
	bool in_indirect = false;

	if (!q->enabled)
		return 0;
	avail_idx = load16(q->avail + RING_IDX);
	if ((uint16_t)(avail_idx - q->last_avail_idx) > q->size)
		return broken(q, "the available index moved from %u to %u, past the queue size",
			      q->last_avail_idx, avail_idx);
	if (avail_idx == q->last_avail_idx)
		return 0;
	idx = load16(q->avail + RING_ENTRIES + 2 * (q->last_avail_idx % q->size));
	if (idx >= q->size)
		return broken(q, "chain head %u is past the queue size %u", idx, q->size);
	q->last_avail_idx++;
	memset(c, 0, offsetof(struct virtq_chain, bufs));
	c->head = idx;

	for (;;) {
		uint8_t d[DESC_SIZE];
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
		int ret;

		/* A chain, indirect tables included, holds at most size descriptors: more means a
		 * loop. */
		if (count++ >= q->size)
			return broken(q, "chain head %u%s is longer than the queue size %u (a loop)",
				      c->head, in_indirect ? "'s indirect table" : "", q->size);
		memcpy(d, table + (size_t)DESC_SIZE * idx, DESC_SIZE);
		addr = le64_get(d);
		len = le32_get(d + 8);
		flags = le16_get(d + 12);
		next = le16_get(d + 14);

		if (flags & VIRTQ_DESC_F_INDIRECT) {
			if (!q->indirect || in_indirect || (flags & VIRTQ_DESC_F_NEXT) || count != 1)
				return broken(q, "chain head %u has an indirect descriptor where none "
					      "may be (flags 0x%x)", c->head, flags);
			if (len == 0 || len % DESC_SIZE || len / DESC_SIZE > q->size)
				return broken(q, "an indirect table of %u bytes is not 1 to %u "
					      "descriptors", len, q->size);
			table = guest_mem_ptr(q->mem, addr, len);
			if (table == NULL)
				return broken(q, "an indirect table of %u bytes at 0x%llx is outside "
					      "guest RAM", len, (unsigned long long)addr);
			table_size = len / DESC_SIZE;
			in_indirect = true;
			idx = 0;
			count = 0;
			continue;
		}
		ret = chain_add(q, c, addr, len, flags & VIRTQ_DESC_F_WRITE);
		if (ret < 0)
			return ret;
		if (!(flags & VIRTQ_DESC_F_NEXT))
			return 1;
		if (next >= table_size)
			return broken(q, "descriptor %u links to %u, past its table", idx, next);
		idx = next;
	}
}

bool virtq_has_available(const struct virtq *q)
{
	return q->enabled && load16(q->avail + RING_IDX) != q->last_avail_idx;
}

void virtq_unpop(struct virtq *q, uint16_t n)
{
	q->last_avail_idx = (uint16_t)(q->last_avail_idx - n);
}

void virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written)
{
	unsigned slot = q->used_idx % q->size;
	uint8_t *elem = q->used + RING_ENTRIES + (size_t)USED_ELEM_SIZE * slot;
	uint64_t left = written;

	if (!q->enabled)
		return;
	for (unsigned i = c->nr_out; i < c->nr_out + c->nr_in && left > 0; i++) {
		uint64_t n = left < c->bufs[i].len ? left : c->bufs[i].len;

		guest_mem_mark_dirty(q->mem, c->bufs[i].gpa, n);
		left -= n;
	}
	le32_put(elem, c->head);
	le32_put(elem + 4, written);
	q->used_idx++;
	store16(q->used + RING_IDX, q->used_idx);
	guest_mem_mark_dirty(q->mem, q->used_gpa, used_bytes(q->size));
}

bool virtq_more_after_enable(struct virtq *q)
{
	if (!q->enabled)
		return false;
	if (q->event_idx) {
		store16(q->used + RING_ENTRIES + (size_t)USED_ELEM_SIZE * q->size, q->last_avail_idx);
		guest_mem_mark_dirty(q->mem, q->used_gpa, used_bytes(q->size));
	}
	/* The store above must be seen before the index is read again, or a driver that looked
	 * at avail_event just before it changed would never notify. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(q->avail + RING_IDX) != q->last_avail_idx;
}

bool virtq_notify_on_new(struct virtq *q)
{
	uint16_t seen;

	if (!q->enabled)
		return false;
	seen = load16(q->avail + RING_IDX);
	if (q->event_idx) {
		store16(q->used + RING_ENTRIES + (size_t)USED_ELEM_SIZE * q->size, seen);
		guest_mem_mark_dirty(q->mem, q->used_gpa, used_bytes(q->size));
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(q->avail + RING_IDX) != seen;
}

bool virtq_should_interrupt(struct virtq *q)
{
	uint16_t old = q->signalled_used, now = q->used_idx;

	if (!q->enabled || old == now)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* used->idx before used_event */
	q->signalled_used = now;
	if (q->event_idx) {
		uint16_t event = load16(q->avail + RING_ENTRIES + 2 * q->size);

		return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
	}
	return !(load16(q->avail + RING_FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* Walks the readable (first nr_out) or writable (the rest) buffers from byte off on. */
static size_t chain_copy(const struct virtq_chain *c, bool in, uint64_t off, void *mem,
			 size_t len, bool to_chain)
{
	unsigned first = in ? c->nr_out : 0, end = in ? c->nr_out + c->nr_in : c->nr_out;
	size_t done = 0;

	for (unsigned i = first; i < end && done < len; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		size_t n;

		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		n = b->len - off < len - done ? b->len - off : len - done;
		if (to_chain)
			memcpy(b->host + off, (const uint8_t *)mem + done, n);
		else
			memcpy((uint8_t *)mem + done, b->host + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, size_t len)
{
	return chain_copy(c, false, off, dst, len, false);
}

size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, size_t len)
{
	return chain_copy(c, true, off, (void *)(uintptr_t)src, len, true);
}

int virtq_chain_iov(const struct virtq_chain *c, bool in, uint64_t off, uint64_t len,
		    struct iovec *iov, unsigned max)
{
	unsigned first = in ? c->nr_out : 0, end = in ? c->nr_out + c->nr_in : c->nr_out;
	unsigned n = 0;

	for (unsigned i = first; i < end && len > 0; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		uint64_t take;

		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		if (n == max)
			return -EINVAL;
		take = b->len - off < len ? b->len - off : len;
		iov[n++] = (struct iovec){ .iov_base = b->host + off, .iov_len = take };
		len -= take;
		off = 0;
	}
	return len == 0 ? (int)n : -EINVAL;
}
