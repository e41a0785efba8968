/* Device state for migration: a device's save op writes its fields with these helpers, its
 * load op reads them back and checks them as if a stranger wrote them (the stream is an
 * attack surface).  Little-endian, fixed sizes, no padding: the format is each device's own,
 * versioned by its ops' state_version. */
#ifndef HOPVM_DEVICE_STATE_H
#define HOPVM_DEVICE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_buf {
	uint8_t *data;		/* NULL while only measuring */
	const uint8_t *in;	/* for reading */
	size_t len, off;
	bool short_buf;		/* a put or get went past len */
};

void state_writer(struct state_buf *s, uint8_t *buf, size_t len);
void state_reader(struct state_buf *s, const uint8_t *buf, size_t len);

void state_put_u8(struct state_buf *s, uint8_t v);
void state_put_u64(struct state_buf *s, uint64_t v);
void state_put_bytes(struct state_buf *s, const void *p, size_t n);
uint8_t state_get_u8(struct state_buf *s);
uint64_t state_get_u64(struct state_buf *s);
void state_get_bytes(struct state_buf *s, void *p, size_t n);

/* What a save op returns: the length written, or -ENOSPC if buf was too small. */
int state_saved(const struct state_buf *s);

/* What a load op checks last: every byte read, none missing or left over.  -EINVAL with a
 * message naming the device otherwise. */
int state_loaded(const struct state_buf *s, const char *device);

#endif
