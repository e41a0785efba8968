#include <string.h>

#include "hopvm/aml.h"

#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82	/* after the extended prefix */
#define AML_ROOT_CHAR '\\'

/* A PkgLength takes 1 to 4 bytes and counts itself. */
#define PKG_LENGTH_MAX_BYTES 4

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	a->buf = buf;
	a->cap = cap;
	a->len = 0;
	a->overflow = false;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

void aml_name_path(struct aml *a, const char *path)
{
	size_t nr_segs;

	if (*path == AML_ROOT_CHAR) {
		aml_byte(a, AML_ROOT_CHAR);
		path++;
	}
	nr_segs = (strlen(path) + 1) / 5;
	if (nr_segs == 2)
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	else if (nr_segs > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nr_segs);
	}
	for (size_t i = 0; i < nr_segs; i++)
		aml_bytes(a, path + 5 * i, 4);
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, AML_ONE_OP);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

/* Three letters of five bits each (A = 1), then four hex digits, stored big-endian. */
void aml_eisa_id(struct aml *a, const char *id)
{
	uint32_t v = 0;

	for (int i = 0; i < 3; i++)
		v = v << 5 | (uint32_t)((id[i] - 'A' + 1) & 0x1f);
	for (int i = 3; i < 7; i++) {
		char c = id[i];

		v = v << 4 | (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	aml_byte(a, AML_DWORD_PREFIX);
	aml_byte(a, (uint8_t)(v >> 24));
	aml_byte(a, (uint8_t)(v >> 16));
	aml_byte(a, (uint8_t)(v >> 8));
	aml_byte(a, (uint8_t)v);
}

static size_t pkg_begin(struct aml *a)
{
	size_t mark = a->len;

	for (int i = 0; i < PKG_LENGTH_MAX_BYTES; i++)
		aml_byte(a, 0);
	return mark;
}

void aml_end(struct aml *a, size_t mark)
{
	size_t body, total;
	unsigned n;

	if (a->overflow)
		return;
	body = a->len - mark - PKG_LENGTH_MAX_BYTES;
	/* One byte holds 6 bits of length; each further byte adds 8 to the first's 4. */
	for (n = 1; n < PKG_LENGTH_MAX_BYTES; n++)
		if (body + n < (n == 1 ? 0x40u : 1u << (4 + 8 * (n - 1))))
			break;
	total = body + n;
	memmove(a->buf + mark + n, a->buf + mark + PKG_LENGTH_MAX_BYTES, body);
	if (n == 1) {
		a->buf[mark] = (uint8_t)total;
	} else {
		a->buf[mark] = (uint8_t)((n - 1) << 6 | (total & 0x0f));
		for (unsigned i = 1; i < n; i++)
			a->buf[mark + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	a->len = mark + total;
}

void aml_buffer(struct aml *a, const void *p, size_t n)
{
	size_t mark;

	aml_byte(a, AML_BUFFER_OP);
	mark = pkg_begin(a);
	aml_integer(a, n);
	aml_bytes(a, p, n);
	aml_end(a, mark);
}

void aml_name(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_path(a, path);
}

size_t aml_scope_begin(struct aml *a, const char *path)
{
	size_t mark;

	aml_byte(a, AML_SCOPE_OP);
	mark = pkg_begin(a);
	aml_name_path(a, path);
	return mark;
}

size_t aml_device_begin(struct aml *a, const char *path)
{
	size_t mark;

	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	mark = pkg_begin(a);
	aml_name_path(a, path);
	return mark;
}

size_t aml_package_begin(struct aml *a, uint8_t nr_elements)
{
	size_t mark;

	aml_byte(a, AML_PACKAGE_OP);
	mark = pkg_begin(a);
	aml_byte(a, nr_elements);
	return mark;
}
