/* The migration stream's sections, read after the header: RAM into guest memory, the rest into
 * a struct mig_state, each field checked before it is used; then END's checks. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/error.h"
#include "hopvm/migration_stream.h"
#include "stream_internal.h"

/* What one mig_read_sections() call has seen: each "seen" is the index of the section that
 * carried it plus one, 0 for not yet. */
struct load {
	struct mig_reader *r;
	struct guest_mem *mem;
	struct mig_state *st;
	uint64_t *vcpu_seen;
	uint64_t irqchip_seen, pit_seen, clock_seen;
	uint64_t device_seen[MIG_MAX_DEVICES];
	struct mig_ram_hashes *received;	/* with MIG_READ_FRESH_RAM */
};

static int take_u32(struct mig_reader *r, uint32_t *v, const char *what)
{
	uint8_t b[4];
	int ret = mig_take(r, b, sizeof(b), what);

	*v = le32_get(b);
	return ret;
}

/* A state section may come only once. */
static int once(struct mig_reader *r, uint64_t *seen, uint64_t offset, const char *what)
{
	if (*seen)
		return mig_refuse(r, -EBADMSG, offset, "%s already came in section %" PRIu64, what,
				  *seen - 1);
	*seen = r->section_index + 1;
	return 0;
}

static int read_ram(struct load *ld)
{
	struct mig_reader *r = ld->r;
	uint64_t off = r->offset;
	uint8_t entry[MIG_PAGE_ENTRY_SIZE];
	uint32_t count;
	int ret = take_u32(r, &count, "page count");

	if (ret < 0)
		return ret;
	if (count == 0 || count > MIG_RAM_BATCH_MAX)
		return mig_refuse(r, -EBADMSG, off, "%u pages in a batch, not 1 to %u", count,
				  MIG_RAM_BATCH_MAX);
	for (uint32_t i = 0; i < count; i++) {
		uint64_t gpn;
		void *dst;

		off = r->offset;
		ret = mig_take(r, entry, sizeof(entry), "page entry");
		if (ret < 0)
			return ret;
		gpn = le64_get(entry);
		dst = mig_page_ptr(ld->mem, gpn);
		if (dst == NULL)
			return mig_refuse(r, -EBADMSG, off, "page 0x%" PRIx64 " lies outside guest "
					  "RAM", gpn);
		if (entry[8] == MIG_PAGE_ZERO) {
			/* Fresh RAM is zero already: writing it would only allocate host memory
			 * (and take time the guest's downtime may be waiting on). */
			if (ld->received == NULL || !mig_ram_hashes_zero(ld->received, gpn))
				memset(dst, 0, MEM_PAGE_SIZE);
			if (ld->received != NULL)
				mig_ram_hashes_set(ld->received, gpn, 0);
			ld->st->pages_zero++;
		} else if (entry[8] == MIG_PAGE_DATA) {
			/* Straight into guest RAM: nothing runs there until END checks out. */
			ret = mig_take(r, dst, MEM_PAGE_SIZE, "page data");
			if (ret < 0)
				return ret;
			if (ld->received != NULL)
				mig_ram_hashes_set(ld->received, gpn, mig_page_hash(gpn, dst));
			ld->st->pages_data++;
		} else {
			return mig_refuse(r, -EBADMSG, off + 8, "page 0x%" PRIx64 " has kind %u "
					  "(0: all zero, 1: data follows)", gpn, entry[8]);
		}
	}
	ld->st->ram_sections++;
	return 0;
}

/* {u32 tag, u32 length, bytes} until the payload ends; what names the owner ("vCPU 1"). */
static int read_blobs(struct mig_reader *r, struct mig_blob *blobs,
		      const struct mig_tag_info *tags, unsigned nr, const char *what)
{
	while (r->section_left > 0) {
		uint64_t off = r->offset;
		uint8_t hdr[MIG_BLOB_HEADER_SIZE];
		uint32_t tag, len;
		void *data;
		int ret;

		ret = mig_take(r, hdr, sizeof(hdr), "blob header");
		if (ret < 0)
			return ret;
		tag = le32_get(hdr);
		len = le32_get(hdr + 4);
		if (tag == 0 || tag >= nr || tags[tag].name == NULL)
			return mig_refuse(r, -EBADMSG, off, "unknown %s state tag %u", what, tag);
		if (blobs[tag].data != NULL)
			return mig_refuse(r, -EBADMSG, off, "%s state \"%s\" appears twice", what,
					  tags[tag].name);
		if (len == 0 || len > tags[tag].max)
			return mig_refuse(r, -EBADMSG, off + 4, "%s state \"%s\" of %u bytes is "
					  "not 1 to %u bytes", what, tags[tag].name, len,
					  tags[tag].max);
		/* Checked before allocating, so a lying length costs nothing. */
		if (len > r->section_left)
			return mig_refuse(r, -EBADMSG, off + 4, "%s state \"%s\" of %u bytes runs "
					  "past the end of the payload (%" PRIu64 " bytes left)",
					  what, tags[tag].name, len, r->section_left);
		data = malloc(len);
		if (data == NULL)
			return err_set(-ENOMEM, "migration stream: out of memory");
		ret = mig_take(r, data, len, "blob");
		if (ret < 0) {
			free(data);
			return ret;
		}
		blobs[tag] = (struct mig_blob){ .data = data, .len = len };
	}
	return 0;
}

static int read_vcpu(struct load *ld)
{
	struct mig_reader *r = ld->r;
	uint64_t off = r->offset;
	char what[32];
	uint32_t id;
	int ret = take_u32(r, &id, "vCPU id");

	if (ret < 0)
		return ret;
	if (id >= r->source.nr_vcpus)
		return mig_refuse(r, -EBADMSG, off, "vCPU id %u is out of range: the guest has %u "
				  "vCPU%s", id, r->source.nr_vcpus,
				  r->source.nr_vcpus == 1 ? "" : "s");
	snprintf(what, sizeof(what), "vCPU %u", id);
	ret = once(r, &ld->vcpu_seen[id], off, what);
	if (ret == 0)
		ret = read_blobs(r, ld->st->vcpus[id].blobs, mig_vcpu_tags, MIG_VCPU_NR_TAGS, what);
	return ret;
}

/* PIT and CLOCK: the whole payload is one blob. */
static int read_opaque(struct mig_reader *r, struct mig_blob *b, uint64_t *seen)
{
	uint32_t len = (uint32_t)r->section_left;	/* at most MIG_SMALL_BLOB_MAX */
	int ret = once(r, seen, r->section_offset, mig_section_name(r->section_type));

	if (ret < 0)
		return ret;
	b->data = malloc(len);
	if (b->data == NULL)
		return err_set(-ENOMEM, "migration stream: out of memory");
	b->len = len;
	return mig_take(r, b->data, len, "state");
}

static int read_device(struct load *ld)
{
	struct mig_reader *r = ld->r;
	uint64_t off = r->offset;
	char name[MIG_DEVICE_NAME_MAX + 1], what[MIG_DEVICE_NAME_MAX + 16];
	const struct mig_device_desc *d = NULL;
	uint32_t version, len;
	uint8_t name_len;
	unsigned i;
	int ret;

	ret = mig_take(r, &name_len, 1, "device name length");
	if (ret < 0)
		return ret;
	if (name_len < 1 || name_len > MIG_DEVICE_NAME_MAX)
		return mig_refuse(r, -EBADMSG, off, "a device name of %u characters, not 1 to %u",
				  name_len, MIG_DEVICE_NAME_MAX);
	ret = mig_take(r, name, name_len, "device name");
	if (ret < 0)
		return ret;
	if (!mig_device_name_valid(name, name_len)) {
		char shown[MIG_DEVICE_NAME_MAX + 1];

		mig_printable(shown, name, name_len);
		return mig_refuse(r, -EBADMSG, off + 1, "device name \"%s\" is not made of a-z, "
				  "0-9 and -", shown);
	}
	name[name_len] = '\0';
	for (i = 0; i < r->source.nr_devices && d == NULL; i++)
		if (strcmp(r->source.devices[i].name, name) == 0)
			d = &r->source.devices[i];
	if (d == NULL)
		return mig_refuse(r, -EBADMSG, off + 1, "device \"%s\" is not in the header's list",
				  name);
	i--;
	snprintf(what, sizeof(what), "device \"%s\"", name);
	ret = once(r, &ld->device_seen[i], off + 1, what);
	if (ret < 0)
		return ret;
	off = r->offset;
	ret = take_u32(r, &version, "device state version");
	if (ret < 0)
		return ret;
	if (version != d->version)
		return mig_refuse(r, -EBADMSG, off, "device \"%s\" state version %u, but the "
				  "header says %u", name, version, d->version);
	len = (uint32_t)r->section_left;	/* at most MIG_DEVICE_STATE_MAX */
	if (len == 0)
		return 0;
	ld->st->devices[i].data = malloc(len);
	if (ld->st->devices[i].data == NULL)
		return err_set(-ENOMEM, "migration stream: out of memory");
	ld->st->devices[i].len = len;
	return mig_take(r, ld->st->devices[i].data, len, "device state");
}

/* Everything a guest needs came; off is END's. */
static int check_complete(struct load *ld, uint64_t off)
{
	struct mig_reader *r = ld->r;

	for (unsigned i = 0; i < r->source.nr_vcpus; i++)
		if (!ld->vcpu_seen[i])
			return mig_refuse(r, -EBADMSG, off, "the stream ends without vCPU %u's "
					  "state", i);
	if (!ld->irqchip_seen || !ld->pit_seen || !ld->clock_seen)
		return mig_refuse(r, -EBADMSG, off, "the stream ends without the %s state",
				  !ld->irqchip_seen ? "IRQCHIP" : !ld->pit_seen ? "PIT" : "CLOCK");
	for (unsigned i = 0; i < r->source.nr_devices; i++)
		if (!ld->device_seen[i])
			return mig_refuse(r, -EBADMSG, off, "the stream ends without device "
					  "\"%s\"'s state", r->source.devices[i].name);
	return 0;
}

static int read_end(struct load *ld, unsigned flags)
{
	struct mig_reader *r = ld->r;
	uint64_t off = r->offset;
	uint8_t end[MIG_END_PAYLOAD_SIZE];
	uint64_t sum = mig_hash_digest(&r->checksum), hash;
	uint64_t before = r->section_offset;
	int ret;

	/* END's own bytes are not in the checksum. */
	ret = mig_get(r, end, sizeof(end), false);
	if (ret < 0)
		return ret;
	r->section_left = 0;
	if (le64_get(end) != sum)
		return mig_refuse(r, -EBADMSG, off, "checksum mismatch: the source's checksum is "
				  "0x%016" PRIx64 ", the %" PRIu64 " bytes before END hash to "
				  "0x%016" PRIx64, le64_get(end), before, sum);
	ret = check_complete(ld, r->section_offset);
	if (ret < 0)
		return ret;
	if (flags & MIG_READ_REQUIRE_EOF) {
		uint8_t extra;
		ssize_t n = r->read(r->ctx, &extra, 1);

		if (n < 0)
			return err_set((int)n, "migration stream: cannot read at offset %" PRIu64
				       ": %s", r->offset, strerror((int)-n));
		if (n > 0)
			return err_set(-EBADMSG, "migration stream: data after the END section at "
				       "offset %" PRIu64, r->offset);
	}
	/* Last, as it may read all of guest RAM. */
	hash = ld->received != NULL ? ld->received->sum : mig_ram_hash(ld->mem);
	if (le64_get(end + 8) != hash)
		return mig_refuse(r, -EBADMSG, off + 8, "RAM hash mismatch: guest RAM hashes to "
				  "0x%016" PRIx64 " after loading, the source's hashed to 0x%016"
				  PRIx64, hash, le64_get(end + 8));
	return 0;
}

/* One section; *end is set when it was END. */
static int read_section(struct load *ld, unsigned flags, bool *end)
{
	struct mig_reader *r = ld->r;
	uint8_t hdr[MIG_SECTION_HEADER_SIZE];
	uint64_t off = r->offset, min, max, len;
	uint32_t type, sec_flags;
	int ret;

	r->phase = MIG_PHASE_SECTION_HEADER;
	r->section_offset = off;
	ret = mig_get(r, hdr, sizeof(hdr), false);
	if (ret < 0)
		return ret;
	type = le32_get(hdr);
	sec_flags = le32_get(hdr + 4);
	len = le64_get(hdr + 8);
	r->phase = MIG_PHASE_PAYLOAD;
	r->section_type = type;
	if (mig_section_name(type) == NULL)
		return mig_refuse(r, -EBADMSG, off, "unknown section type %u", type);
	if (sec_flags != 0)
		return mig_refuse(r, -EBADMSG, off + 4, "flags 0x%x, which must be 0", sec_flags);
	mig_section_bounds(type, &min, &max);
	if (len > max)
		return mig_refuse(r, -EBADMSG, off + 8, "payload length %" PRIu64 " is over the "
				  "limit of %" PRIu64, len, max);
	if (len < min)
		return mig_refuse(r, -EBADMSG, off + 8, "payload length %" PRIu64 " is under the "
				  "minimum of %" PRIu64, len, min);
	if (type != MIG_SECTION_END)
		mig_hash_update(&r->checksum, hdr, sizeof(hdr));
	r->section_left = len;
	if (r->on_section != NULL) {
		ret = r->on_section(r->section_ctx, type);
		if (ret < 0)
			return ret;
	}

	switch (type) {
	case MIG_SECTION_RAM:
		ret = read_ram(ld);
		break;
	case MIG_SECTION_VCPU:
		ret = read_vcpu(ld);
		break;
	case MIG_SECTION_IRQCHIP:
		ret = once(r, &ld->irqchip_seen, off, "IRQCHIP");
		if (ret == 0)
			ret = read_blobs(r, ld->st->irqchip, mig_irqchip_tags, MIG_IRQCHIP_NR_TAGS,
					 "irqchip");
		break;
	case MIG_SECTION_PIT:
		ret = read_opaque(r, &ld->st->pit, &ld->pit_seen);
		break;
	case MIG_SECTION_CLOCK:
		ret = read_opaque(r, &ld->st->clock, &ld->clock_seen);
		break;
	case MIG_SECTION_DEVICE:
		ret = read_device(ld);
		break;
	case MIG_SECTION_SYNC:	/* nothing to read: on_section() did what there is to do */
		break;
	case MIG_SECTION_ONE_WAY:
		if (r->section_index != 0)
			ret = mig_refuse(r, -EBADMSG, off, "ONE_WAY must be the first section");
		break;
	default:
		*end = true;
		ret = read_end(ld, flags);
		break;
	}
	if (ret == 0 && r->section_left != 0)
		ret = mig_refuse(r, -EBADMSG, r->offset, "%" PRIu64 " byte%s left over at the "
				 "end of the payload", r->section_left,
				 r->section_left == 1 ? "" : "s");
	r->section_index++;
	return ret;
}

static bool pages_whole(const struct guest_mem *mem)
{
	for (unsigned i = 0; i < mem->nr_regions; i++)
		if (mem->regions[i].gpa % MEM_PAGE_SIZE || mem->regions[i].size % MEM_PAGE_SIZE)
			return false;
	return true;
}

int mig_read_sections(struct mig_reader *r, struct guest_mem *mem, struct mig_state *st,
		      unsigned flags)
{
	struct load ld = { .r = r, .mem = mem, .st = st };
	struct mig_ram_hashes received = { NULL, NULL, 0 };
	bool end = false;
	int ret = 0;

	memset(st, 0, sizeof(*st));
	if (!r->header_done || r->phase == MIG_PHASE_DONE)
		return err_set(-EINVAL, "migration stream: sections read before the header or "
			       "after END");
	if (mem->ram_size != r->source.ram_size || !pages_whole(mem))
		return err_set(-EINVAL, "migration stream: guest memory of %" PRIu64 " bytes for a "
			       "stream of %" PRIu64, mem->ram_size, r->source.ram_size);
	st->vcpus = calloc(r->source.nr_vcpus, sizeof(*st->vcpus));
	ld.vcpu_seen = calloc(r->source.nr_vcpus, sizeof(*ld.vcpu_seen));
	if (st->vcpus == NULL || ld.vcpu_seen == NULL)
		ret = err_set(-ENOMEM, "migration stream: out of memory");
	st->nr_vcpus = r->source.nr_vcpus;
	if (ret == 0 && (flags & MIG_READ_FRESH_RAM)) {
		ret = mig_ram_hashes_init(&received, mem);
		ld.received = &received;
	}
	while (ret == 0 && !end)
		ret = read_section(&ld, flags, &end);
	free(ld.vcpu_seen);
	mig_ram_hashes_free(&received);
	r->phase = MIG_PHASE_DONE;
	if (ret < 0) {
		mig_state_free(st);
		return ret;
	}
	st->bytes = r->offset;
	return 0;
}
