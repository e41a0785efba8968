/* The migration stream's writer.  It refuses what the reader would refuse, so a bug in the
 * sender shows on the source with a message instead of as a corrupt stream far away. */
#include <errno.h>
#include <string.h>

#include "hopvm/error.h"
#include "hopvm/migration_stream.h"
#include "stream_internal.h"

void mig_writer_init(struct mig_writer *w, mig_write_fn write, void *ctx)
{
	memset(w, 0, sizeof(*w));
	w->write = write;
	w->ctx = ctx;
	mig_hash_init(&w->checksum, 0);
}

/* Hands len bytes to the sink; everything before END also goes into the checksum.  A failed
 * write leaves a section half written, so every later call fails with the same error. */
static int emit(struct mig_writer *w, const void *buf, size_t len, bool checksummed)
{
	int ret;

	if (w->error)
		return w->error;
	ret = w->write(w->ctx, buf, len);
	if (ret < 0) {
		w->error = ret;
		return err_set(ret, "migration stream: cannot write at offset %llu: %s",
			       (unsigned long long)w->offset, strerror(-ret));
	}
	if (checksummed)
		mig_hash_update(&w->checksum, buf, len);
	w->offset += len;
	return 0;
}

static int emit_section_header(struct mig_writer *w, uint32_t type, uint64_t payload_len)
{
	uint8_t hdr[MIG_SECTION_HEADER_SIZE];

	le32_put(hdr, type);
	le32_put(hdr + 4, 0);	/* flags */
	le64_put(hdr + 8, payload_len);
	return emit(w, hdr, sizeof(hdr), type != MIG_SECTION_END);
}

/* Sections go after the header and before END. */
static int check_body(struct mig_writer *w)
{
	if (w->error)
		return w->error;
	if (!w->header_done)
		return err_set(-EINVAL, "migration stream: a section before the header");
	if (w->ended)
		return err_set(-EINVAL, "migration stream: a section after END");
	return 0;
}

static int check_machine(const struct mig_machine *m)
{
	int repeat;

	if (m->ram_size == 0 || m->ram_size % MEM_PAGE_SIZE != 0 || m->ram_size > MEM_MAX_SIZE)
		return err_set(-EINVAL, "migration stream: RAM size %llu is not a whole "
			       "number of 4 KiB pages up to 1 TiB",
			       (unsigned long long)m->ram_size);
	if (m->nr_vcpus == 0 || m->nr_vcpus > MIG_MAX_VCPUS)
		return err_set(-EINVAL, "migration stream: %u vCPUs, not 1 to %u", m->nr_vcpus,
			       MIG_MAX_VCPUS);
	if (m->nr_cpuid_entries == 0 || m->nr_cpuid_entries > MIG_MAX_CPUID_ENTRIES)
		return err_set(-EINVAL, "migration stream: %u CPUID entries, not 1 to %u",
			       m->nr_cpuid_entries, MIG_MAX_CPUID_ENTRIES);
	for (unsigned i = 0; i < m->nr_cpuid_entries; i++)
		if (m->cpuid[i].flags & ~MIG_CPUID_FLAGS_KNOWN)
			return err_set(-EINVAL, "migration stream: CPUID entry %u (leaf 0x%x) has "
				       "unknown flags 0x%x", i, m->cpuid[i].function,
				       m->cpuid[i].flags);
	repeat = mig_cpuid_repeated(m->cpuid, m->nr_cpuid_entries);
	if (repeat >= 0)
		return err_set(-EINVAL, "migration stream: CPUID entry %d repeats leaf 0x%x",
			       repeat, m->cpuid[repeat].function);
	if (m->nr_devices > MIG_MAX_DEVICES)
		return err_set(-EINVAL, "migration stream: %u devices, over %u", m->nr_devices,
			       MIG_MAX_DEVICES);
	for (unsigned i = 0; i < m->nr_devices; i++) {
		const char *name = m->devices[i].name;

		if (!mig_device_name_valid(name, strnlen(name, sizeof(m->devices[i].name))))
			return err_set(-EINVAL, "migration stream: device name \"%.*s\" is not "
				       "1 to %u characters of a-z, 0-9 and -",
				       (int)sizeof(m->devices[i].name), name, MIG_DEVICE_NAME_MAX);
		for (unsigned j = 0; j < i; j++)
			if (strcmp(name, m->devices[j].name) == 0)
				return err_set(-EINVAL, "migration stream: device \"%s\" is listed "
					       "twice", name);
	}
	return 0;
}

int mig_write_header(struct mig_writer *w, const struct mig_machine *machine)
{
	uint8_t hdr[MIG_HEADER_MAX_SIZE];
	size_t len = MIG_HEADER_FIXED_SIZE;
	int ret;

	if (w->error)
		return w->error;
	if (w->header_done)
		return err_set(-EINVAL, "migration stream: the header was already written");
	ret = check_machine(machine);
	if (ret < 0)
		return ret;

	memcpy(hdr, MIG_MAGIC, MIG_MAGIC_SIZE);
	le32_put(hdr + 8, MIG_VERSION);
	le64_put(hdr + 16, machine->ram_size);
	le32_put(hdr + 24, machine->nr_vcpus);
	le32_put(hdr + 28, machine->nr_cpuid_entries);
	le32_put(hdr + 40, machine->nr_devices);
	for (unsigned i = 0; i < machine->nr_devices; i++) {
		const struct mig_device_desc *d = &machine->devices[i];
		size_t name_len = strlen(d->name);

		hdr[len] = (uint8_t)name_len;
		memcpy(hdr + len + 1, d->name, name_len);
		le32_put(hdr + len + 1 + name_len, d->version);
		len += MIG_HEADER_DEVICE_SIZE(name_len);
	}
	for (unsigned i = 0; i < machine->nr_cpuid_entries; i++, len += MIG_CPUID_ENTRY_SIZE)
		mig_cpuid_entry_put(hdr + len, &machine->cpuid[i]);
	le64_put(hdr + 32, mig_cpuid_hash(machine->cpuid, machine->nr_cpuid_entries));
	le32_put(hdr + 12, (uint32_t)len);
	ret = emit(w, hdr, len, true);
	if (ret < 0)
		return ret;
	w->machine = *machine;
	w->machine.cpuid_hash = le64_get(hdr + 32);
	w->header_done = true;
	return 0;
}

int mig_write_ram(struct mig_writer *w, const struct guest_mem *mem, const uint64_t *gpns,
		  uint32_t count)
{
	uint8_t kinds[MIG_RAM_BATCH_MAX];
	uint8_t page[MEM_PAGE_SIZE];
	uint64_t payload_len = 4;
	uint8_t buf[MIG_PAGE_ENTRY_SIZE];
	int ret = check_body(w);

	if (ret < 0)
		return ret;
	if (count == 0 || count > MIG_RAM_BATCH_MAX)
		return err_set(-EINVAL, "migration stream: %u pages in a RAM batch, not 1 to %u",
			       count, MIG_RAM_BATCH_MAX);
	for (uint32_t i = 0; i < count; i++) {
		const void *src = mig_page_ptr(mem, gpns[i]);

		if (src == NULL)
			return err_set(-EINVAL, "migration stream: page 0x%llx lies outside guest "
				       "RAM", (unsigned long long)gpns[i]);
		kinds[i] = mig_page_is_zero(src) ? MIG_PAGE_ZERO : MIG_PAGE_DATA;
		payload_len += MIG_PAGE_ENTRY_SIZE + (kinds[i] ? MEM_PAGE_SIZE : 0);
	}

	ret = emit_section_header(w, MIG_SECTION_RAM, payload_len);
	le32_put(buf, count);
	if (ret == 0)
		ret = emit(w, buf, 4, true);
	for (uint32_t i = 0; i < count && ret == 0; i++) {
		le64_put(buf, gpns[i]);
		buf[8] = kinds[i];
		ret = emit(w, buf, MIG_PAGE_ENTRY_SIZE, true);
		if (ret < 0)
			break;
		if (kinds[i] == MIG_PAGE_ZERO) {
			if (w->sent != NULL)
				mig_ram_hashes_set(w->sent, gpns[i], 0);
			w->pages_zero++;
			continue;
		}
		/* The guest may be running (pre-copy): copy the page once so the checksum and
		 * the sink see the same bytes.  A page that changed since the zero check above
		 * is sent as it is now; it is dirty, so a later round sends it again. */
		memcpy(page, mig_page_ptr(mem, gpns[i]), MEM_PAGE_SIZE);
		if (w->sent != NULL)
			mig_ram_hashes_set(w->sent, gpns[i], mig_page_hash(gpns[i], page));
		ret = emit(w, page, MEM_PAGE_SIZE, true);
		w->pages_data++;
	}
	return ret;
}

/* A blob of a tagged section (or PIT and clock): present, not empty, within its limit. */
static int check_blob(const struct mig_blob *b, const char *what, const char *name, uint32_t max)
{
	if (b->data == NULL && b->len != 0)
		return err_set(-EINVAL, "migration stream: %s state \"%s\" has %u bytes but no "
			       "data", what, name, b->len);
	if (b->data != NULL && (b->len == 0 || b->len > max))
		return err_set(-EINVAL, "migration stream: %s state \"%s\" of %u bytes is not "
			       "1 to %u bytes", what, name, b->len, max);
	return 0;
}

/* Checks the present blobs and returns the bytes they take as {tag, length, bytes}. */
static int tagged_size(const struct mig_blob *blobs, const struct mig_tag_info *tags,
		       unsigned nr, const char *what, uint64_t *size)
{
	*size = 0;
	for (unsigned t = 1; t < nr; t++) {
		int ret = check_blob(&blobs[t], what, tags[t].name, tags[t].max);

		if (ret < 0)
			return ret;
		if (blobs[t].data != NULL)
			*size += MIG_BLOB_HEADER_SIZE + blobs[t].len;
	}
	return 0;
}

static int emit_tagged(struct mig_writer *w, const struct mig_blob *blobs, unsigned nr)
{
	uint8_t hdr[MIG_BLOB_HEADER_SIZE];
	int ret = 0;

	for (unsigned t = 1; t < nr && ret == 0; t++) {
		if (blobs[t].data == NULL)
			continue;
		le32_put(hdr, t);
		le32_put(hdr + 4, blobs[t].len);
		ret = emit(w, hdr, sizeof(hdr), true);
		if (ret == 0)
			ret = emit(w, blobs[t].data, blobs[t].len, true);
	}
	return ret;
}

int mig_write_vcpu(struct mig_writer *w, uint32_t vcpu_id, const struct mig_vcpu_state *state)
{
	uint8_t id[4];
	uint64_t size;
	int ret = check_body(w);

	if (ret == 0)
		ret = tagged_size(state->blobs, mig_vcpu_tags, MIG_VCPU_NR_TAGS, "vCPU", &size);
	if (ret < 0)
		return ret;
	if (vcpu_id >= w->machine.nr_vcpus)
		return err_set(-EINVAL, "migration stream: vCPU id %u is out of range: the guest "
			       "has %u vCPU%s", vcpu_id, w->machine.nr_vcpus,
			       w->machine.nr_vcpus == 1 ? "" : "s");
	le32_put(id, vcpu_id);
	ret = emit_section_header(w, MIG_SECTION_VCPU, 4 + size);
	if (ret == 0)
		ret = emit(w, id, sizeof(id), true);
	if (ret == 0)
		ret = emit_tagged(w, state->blobs, MIG_VCPU_NR_TAGS);
	return ret;
}

int mig_write_irqchip(struct mig_writer *w, const struct mig_blob *irqchip)
{
	uint64_t size;
	int ret = check_body(w);

	if (ret == 0)
		ret = tagged_size(irqchip, mig_irqchip_tags, MIG_IRQCHIP_NR_TAGS, "irqchip", &size);
	if (ret == 0)
		ret = emit_section_header(w, MIG_SECTION_IRQCHIP, size);
	if (ret == 0)
		ret = emit_tagged(w, irqchip, MIG_IRQCHIP_NR_TAGS);
	return ret;
}

static int write_opaque(struct mig_writer *w, uint32_t type, const struct mig_blob *b)
{
	const char *name = mig_section_name(type);
	int ret = check_body(w);

	if (ret == 0 && b->data == NULL)
		ret = err_set(-EINVAL, "migration stream: no %s state", name);
	if (ret == 0)
		ret = check_blob(b, name, name, MIG_SMALL_BLOB_MAX);
	if (ret == 0)
		ret = emit_section_header(w, type, b->len);
	if (ret == 0)
		ret = emit(w, b->data, b->len, true);
	return ret;
}

int mig_write_pit(struct mig_writer *w, const struct mig_blob *pit)
{
	return write_opaque(w, MIG_SECTION_PIT, pit);
}

int mig_write_clock(struct mig_writer *w, const struct mig_blob *clock)
{
	return write_opaque(w, MIG_SECTION_CLOCK, clock);
}

int mig_write_device(struct mig_writer *w, const char *name, const struct mig_blob *state)
{
	const struct mig_device_desc *d = NULL;
	uint8_t buf[1 + MIG_DEVICE_NAME_MAX + 4];
	size_t name_len = strlen(name);
	int ret = check_body(w);

	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < w->machine.nr_devices; i++)
		if (strcmp(w->machine.devices[i].name, name) == 0)
			d = &w->machine.devices[i];
	if (d == NULL)
		return err_set(-EINVAL, "migration stream: device \"%s\" is not in the header's "
			       "list", name);
	if ((state->data == NULL && state->len != 0) || state->len > MIG_DEVICE_STATE_MAX)
		return err_set(-EINVAL, "migration stream: device \"%s\" state of %u bytes is "
			       "not 0 to %u bytes", name, state->len, MIG_DEVICE_STATE_MAX);
	buf[0] = (uint8_t)name_len;
	memcpy(buf + 1, name, name_len);
	le32_put(buf + 1 + name_len, d->version);
	ret = emit_section_header(w, MIG_SECTION_DEVICE, 1 + name_len + 4 + state->len);
	if (ret == 0)
		ret = emit(w, buf, 1 + name_len + 4, true);
	if (ret == 0 && state->len > 0)
		ret = emit(w, state->data, state->len, true);
	return ret;
}

int mig_write_one_way(struct mig_writer *w)
{
	int ret = check_body(w);

	return ret < 0 ? ret : emit_section_header(w, MIG_SECTION_ONE_WAY, 0);
}

int mig_write_sync(struct mig_writer *w)
{
	int ret = check_body(w);

	return ret < 0 ? ret : emit_section_header(w, MIG_SECTION_SYNC, 0);
}

int mig_write_end(struct mig_writer *w, uint64_t ram_hash)
{
	uint8_t buf[MIG_END_PAYLOAD_SIZE];
	int ret = check_body(w);

	if (ret < 0)
		return ret;
	le64_put(buf, mig_hash_digest(&w->checksum));
	le64_put(buf + 8, ram_hash);
	ret = emit_section_header(w, MIG_SECTION_END, sizeof(buf));
	if (ret == 0)
		ret = emit(w, buf, sizeof(buf), false);
	if (ret == 0)
		w->ended = true;
	return ret;
}
