/* The migration stream's reader: reading with exact truncation offsets, messages that name
 * the section and offset, and the header with its machine comparison.  The sections are in
 * stream_sections.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hopvm/error.h"
#include "hopvm/migration_stream.h"
#include "stream_internal.h"

void mig_reader_init(struct mig_reader *r, mig_read_fn read, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->read = read;
	r->ctx = ctx;
	r->phase = MIG_PHASE_HEADER;
	mig_hash_init(&r->checksum, 0);
}

/* The header or section being parsed, for messages. */
static void where(const struct mig_reader *r, char *out, size_t size)
{
	const char *name = mig_section_name(r->section_type);

	if (r->phase == MIG_PHASE_HEADER)
		snprintf(out, size, "header");
	else if (name == NULL)
		snprintf(out, size, "section %" PRIu64, r->section_index);
	else
		snprintf(out, size, "%s section %" PRIu64, name, r->section_index);
}

int mig_refuse(struct mig_reader *r, int ret, uint64_t offset, const char *fmt, ...)
{
	char place[64], msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	where(r, place, sizeof(place));
	return err_set(ret, "migration stream: %s at offset %" PRIu64 ": %s", place, offset, msg);
}

static int truncated(const struct mig_reader *r)
{
	char place[64];

	if (r->phase == MIG_PHASE_SECTION_HEADER && r->offset == r->section_offset) {
		if (r->section_index == 0)
			return err_set(-EBADMSG, "migration stream: truncated at offset %" PRIu64
				       ": the stream ends after the header, without an END section",
				       r->offset);
		return err_set(-EBADMSG, "migration stream: truncated at offset %" PRIu64 ": the "
			       "stream ends after section %" PRIu64 ", without an END section",
			       r->offset, r->section_index - 1);
	}
	if (r->phase == MIG_PHASE_HEADER)
		return err_set(-EBADMSG, "migration stream: truncated at offset %" PRIu64
			       " (inside the header)", r->offset);
	if (r->phase == MIG_PHASE_SECTION_HEADER)
		return err_set(-EBADMSG, "migration stream: truncated at offset %" PRIu64
			       " (inside the header of section %" PRIu64 ", which starts at "
			       "offset %" PRIu64 ")", r->offset, r->section_index,
			       r->section_offset);
	where(r, place, sizeof(place));
	return err_set(-EBADMSG, "migration stream: truncated at offset %" PRIu64 " (inside the "
		       "%s, which starts at offset %" PRIu64 ")", r->offset, place,
		       r->section_offset);
}

int mig_get(struct mig_reader *r, void *buf, size_t len, bool checksummed)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = r->read(r->ctx, p + got, len - got);

		if (n < 0)
			return err_set((int)n, "migration stream: cannot read at offset %" PRIu64
				       ": %s", r->offset + got, strerror((int)-n));
		if ((size_t)n > len - got)
			return err_set(-EIO, "migration stream: the read callback returned %zd "
				       "bytes for %zu", n, len - got);
		if (n == 0) {
			r->offset += got;
			return truncated(r);
		}
		got += (size_t)n;
	}
	if (checksummed)
		mig_hash_update(&r->checksum, buf, len);
	r->offset += len;
	return 0;
}

int mig_take(struct mig_reader *r, void *buf, size_t len, const char *what)
{
	int ret;

	if (len > r->section_left)
		return mig_refuse(r, -EBADMSG, r->offset, "the %s (%zu bytes) runs past the end "
				  "of the payload (%" PRIu64 " bytes left)", what, len,
				  r->section_left);
	ret = mig_get(r, buf, len, true);
	if (ret == 0)
		r->section_left -= len;
	return ret;
}

void mig_printable(char *out, const void *in, size_t len)
{
	const uint8_t *b = in;

	for (size_t i = 0; i < len; i++)
		out[i] = b[i] >= 0x20 && b[i] < 0x7f ? (char)b[i] : '?';
	out[len] = '\0';
}

/* The fixed fields' offsets, for messages. */
enum {
	OFF_VERSION = 8,
	OFF_HEADER_LEN = 12,
	OFF_RAM_SIZE = 16,
	OFF_NR_VCPUS = 24,
	OFF_NR_CPUID = 28,
	OFF_CPUID_HASH = 32,
	OFF_NR_DEVICES = 40,
};

static void format_size(uint64_t bytes, char *out, size_t size)
{
	if (bytes % (1ULL << 30) == 0)
		snprintf(out, size, "%" PRIu64 " GiB", bytes >> 30);
	else if (bytes % (1ULL << 20) == 0)
		snprintf(out, size, "%" PRIu64 " MiB", bytes >> 20);
	else
		snprintf(out, size, "%" PRIu64 " KiB", bytes >> 10);
}

static const struct mig_device_desc *find_device(const struct mig_machine *m, const char *name)
{
	for (unsigned i = 0; i < m->nr_devices; i++)
		if (strcmp(m->devices[i].name, name) == 0)
			return &m->devices[i];
	return NULL;
}

/* The destination refuses a guest that needs another machine; dev_off[i] is where the source's
 * device i is described. */
static int compare_machine(struct mig_reader *r, const struct mig_machine *local,
			   const uint64_t *dev_off)
{
	const struct mig_machine *src = &r->source;
	char a[32], b[32];

	if (src->ram_size != local->ram_size) {
		format_size(src->ram_size, a, sizeof(a));
		format_size(local->ram_size, b, sizeof(b));
		return mig_refuse(r, -EPROTO, OFF_RAM_SIZE, "the source's guest has %s of RAM, "
				  "this one %s", a, b);
	}
	if (src->nr_vcpus != local->nr_vcpus)
		return mig_refuse(r, -EPROTO, OFF_NR_VCPUS, "the source's guest has %u vCPU%s, "
				  "this one %u", src->nr_vcpus, src->nr_vcpus == 1 ? "" : "s",
				  local->nr_vcpus);
	for (unsigned i = 0; i < src->nr_devices; i++) {
		const struct mig_device_desc *s = &src->devices[i];
		const struct mig_device_desc *l = find_device(local, s->name);

		if (l == NULL)
			return mig_refuse(r, -EPROTO, dev_off[i], "the source's guest has a device "
					  "\"%s\" that this one lacks", s->name);
		if (l->version != s->version)
			return mig_refuse(r, -EPROTO, dev_off[i], "device \"%s\" has state version "
					  "%u at the source, %u here", s->name, s->version,
					  l->version);
	}
	for (unsigned i = 0; i < local->nr_devices; i++)
		if (find_device(src, local->devices[i].name) == NULL)
			return mig_refuse(r, -EPROTO, OFF_NR_DEVICES, "this guest has a device "
					  "\"%s\" that the source's lacks", local->devices[i].name);
	return 0;
}

/* One device of the header's list: u8 name length, the name, u32 state version. */
static int read_device_desc(struct mig_reader *r, unsigned i, struct mig_device_desc *d)
{
	uint64_t off = r->offset;
	uint8_t name_len, version[4];
	char name[256];
	int ret;

	ret = mig_get(r, &name_len, 1, true);
	if (ret < 0)
		return ret;
	if (name_len < 1 || name_len > MIG_DEVICE_NAME_MAX)
		return mig_refuse(r, -EBADMSG, off, "device %u's name is %u characters long, not "
				  "1 to %u", i, name_len, MIG_DEVICE_NAME_MAX);
	ret = mig_get(r, d->name, name_len, true);
	if (ret < 0)
		return ret;
	if (!mig_device_name_valid(d->name, name_len)) {
		mig_printable(name, d->name, name_len);
		return mig_refuse(r, -EBADMSG, off + 1, "device %u's name \"%s\" is not made of "
				  "a-z, 0-9 and -", i, name);
	}
	d->name[name_len] = '\0';
	for (unsigned j = 0; j < i; j++)
		if (strcmp(r->source.devices[j].name, d->name) == 0)
			return mig_refuse(r, -EBADMSG, off + 1, "device \"%s\" is listed twice",
					  d->name);
	ret = mig_get(r, version, sizeof(version), true);
	d->version = le32_get(version);
	return ret;
}

/* The CPUID entries that end the header, checked against the header's hash of them. */
static int read_cpu_model(struct mig_reader *r, struct mig_machine *m)
{
	uint64_t start = r->offset;
	uint8_t buf[MIG_CPUID_ENTRY_SIZE];
	int repeat, ret;

	for (uint32_t i = 0; i < m->nr_cpuid_entries; i++) {
		struct mig_cpuid_entry *e = &m->cpuid[i];

		ret = mig_get(r, buf, sizeof(buf), true);
		if (ret < 0)
			return ret;
		mig_cpuid_entry_get(buf, e);
		if (e->flags & ~MIG_CPUID_FLAGS_KNOWN)
			return mig_refuse(r, -EBADMSG, r->offset - sizeof(buf) + 8, "CPUID entry %u "
					  "(leaf 0x%x) has unknown flags 0x%x", i, e->function,
					  e->flags);
	}
	repeat = mig_cpuid_repeated(m->cpuid, m->nr_cpuid_entries);
	if (repeat >= 0)
		return mig_refuse(r, -EBADMSG, start + (uint64_t)repeat * MIG_CPUID_ENTRY_SIZE,
				  "CPUID entry %d repeats leaf 0x%x", repeat,
				  m->cpuid[repeat].function);
	if (mig_cpuid_hash(m->cpuid, m->nr_cpuid_entries) != m->cpuid_hash)
		return mig_refuse(r, -EBADMSG, OFF_CPUID_HASH, "the CPU model's hash 0x%016" PRIx64
				  " does not match its %u entries", m->cpuid_hash,
				  m->nr_cpuid_entries);
	return 0;
}

int mig_read_header(struct mig_reader *r, const struct mig_machine *local)
{
	struct mig_machine *m = &r->source;
	uint8_t hdr[MIG_HEADER_FIXED_SIZE];
	uint64_t dev_off[MIG_MAX_DEVICES];
	uint32_t version, header_len;
	int ret;

	if (r->phase != MIG_PHASE_HEADER || r->offset != 0)
		return err_set(-EINVAL, "migration stream: the header was already read");
	ret = mig_get(r, hdr, MIG_MAGIC_SIZE, true);
	if (ret < 0)
		return ret;
	if (memcmp(hdr, MIG_MAGIC, MIG_MAGIC_SIZE) != 0)
		return mig_refuse(r, -EBADMSG, 0, "bad magic: this is not a hopvm migration "
				  "stream");
	ret = mig_get(r, hdr + OFF_VERSION, 4, true);
	if (ret < 0)
		return ret;
	version = le32_get(hdr + OFF_VERSION);
	if (version > MIG_VERSION)
		return mig_refuse(r, -EPROTO, OFF_VERSION, "format version %u is newer than this "
				  "hopvm's %u", version, MIG_VERSION);
	if (version == 1)
		return mig_refuse(r, -EPROTO, OFF_VERSION, "format version 1 is from an older "
				  "hopvm, which did not send the guest's CPU model; this one reads "
				  "version %u only", MIG_VERSION);
	if (version != MIG_VERSION)
		return mig_refuse(r, -EBADMSG, OFF_VERSION, "format version %u does not exist",
				  version);

	ret = mig_get(r, hdr + OFF_HEADER_LEN, sizeof(hdr) - OFF_HEADER_LEN, true);
	if (ret < 0)
		return ret;
	header_len = le32_get(hdr + OFF_HEADER_LEN);
	memset(m, 0, sizeof(*m));
	m->ram_size = le64_get(hdr + OFF_RAM_SIZE);
	m->nr_vcpus = le32_get(hdr + OFF_NR_VCPUS);
	m->nr_cpuid_entries = le32_get(hdr + OFF_NR_CPUID);
	m->cpuid_hash = le64_get(hdr + OFF_CPUID_HASH);
	m->nr_devices = le32_get(hdr + OFF_NR_DEVICES);
	if (header_len < MIG_HEADER_FIXED_SIZE || header_len > MIG_HEADER_MAX_SIZE)
		return mig_refuse(r, -EBADMSG, OFF_HEADER_LEN, "header length %u is not %u to %u",
				  header_len, MIG_HEADER_FIXED_SIZE, MIG_HEADER_MAX_SIZE);
	if (m->ram_size == 0 || m->ram_size % MEM_PAGE_SIZE != 0 || m->ram_size > MEM_MAX_SIZE)
		return mig_refuse(r, -EBADMSG, OFF_RAM_SIZE, "RAM size %" PRIu64 " is not a whole "
				  "number of 4 KiB pages up to 1 TiB", m->ram_size);
	if (m->nr_vcpus == 0 || m->nr_vcpus > MIG_MAX_VCPUS)
		return mig_refuse(r, -EBADMSG, OFF_NR_VCPUS, "%u vCPUs, not 1 to %u", m->nr_vcpus,
				  MIG_MAX_VCPUS);
	if (m->nr_cpuid_entries == 0 || m->nr_cpuid_entries > MIG_MAX_CPUID_ENTRIES)
		return mig_refuse(r, -EBADMSG, OFF_NR_CPUID, "%u CPUID entries, not 1 to %u",
				  m->nr_cpuid_entries, MIG_MAX_CPUID_ENTRIES);
	if (m->nr_devices > MIG_MAX_DEVICES)
		return mig_refuse(r, -EBADMSG, OFF_NR_DEVICES, "%u devices, over the limit of %u",
				  m->nr_devices, MIG_MAX_DEVICES);
	for (unsigned i = 0; i < m->nr_devices; i++) {
		dev_off[i] = r->offset;
		ret = read_device_desc(r, i, &m->devices[i]);
		if (ret < 0)
			return ret;
	}
	ret = read_cpu_model(r, m);
	if (ret < 0)
		return ret;
	if (r->offset != header_len)
		return mig_refuse(r, -EBADMSG, OFF_HEADER_LEN, "header length %u, but its fields "
				  "take %" PRIu64 " bytes", header_len, r->offset);

	if (local != NULL) {
		ret = compare_machine(r, local, dev_off);
		if (ret < 0)
			return ret;
	}
	r->header_done = true;
	r->phase = MIG_PHASE_SECTION_HEADER;
	r->section_offset = r->offset;
	return 0;
}
