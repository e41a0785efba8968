#include <errno.h>
#include <string.h>

#include "hopvm/device_state.h"
#include "hopvm/error.h"
#include "hopvm/le.h"

void state_writer(struct state_buf *s, uint8_t *buf, size_t len)
{
	*s = (struct state_buf){ .data = buf, .len = len };
}

void state_reader(struct state_buf *s, const uint8_t *buf, size_t len)
{
	*s = (struct state_buf){ .in = buf, .len = len };
}

void state_put_bytes(struct state_buf *s, const void *p, size_t n)
{
	if (s->short_buf || n > s->len - s->off) {
		s->short_buf = true;
		return;
	}
	memcpy(s->data + s->off, p, n);
	s->off += n;
}

void state_put_u8(struct state_buf *s, uint8_t v)
{
	state_put_bytes(s, &v, 1);
}

void state_put_u64(struct state_buf *s, uint64_t v)
{
	uint8_t b[8];

	le64_put(b, v);
	state_put_bytes(s, b, sizeof(b));
}

void state_get_bytes(struct state_buf *s, void *p, size_t n)
{
	if (s->short_buf || n > s->len - s->off) {
		s->short_buf = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, s->in + s->off, n);
	s->off += n;
}

uint8_t state_get_u8(struct state_buf *s)
{
	uint8_t v;

	state_get_bytes(s, &v, 1);
	return v;
}

uint64_t state_get_u64(struct state_buf *s)
{
	uint8_t b[8];

	state_get_bytes(s, b, sizeof(b));
	return le64_get(b);
}

int state_saved(const struct state_buf *s)
{
	return s->short_buf ? -ENOSPC : (int)s->off;
}

int state_loaded(const struct state_buf *s, const char *device)
{
	if (s->short_buf)
		return err_set(-EINVAL, "%s state: %zu bytes, too short for this version", device,
			       s->len);
	if (s->off != s->len)
		return err_set(-EINVAL, "%s state: %zu bytes left over", device, s->len - s->off);
	return 0;
}
