/* The migration stream's shared tables and helpers: section and blob limits, names, the state
 * the reader returns, and the memory and file-descriptor ends for the callbacks. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "hopvm/migration_stream.h"
#include "stream_internal.h"

const struct mig_tag_info mig_vcpu_tags[MIG_VCPU_NR_TAGS] = {
	[MIG_VCPU_REGS] = { "regs", MIG_SMALL_BLOB_MAX },
	[MIG_VCPU_SREGS] = { "sregs", MIG_SMALL_BLOB_MAX },
	[MIG_VCPU_FPU] = { "fpu", MIG_SMALL_BLOB_MAX },
	[MIG_VCPU_XSAVE] = { "xsave", MIG_LARGE_BLOB_MAX },
	[MIG_VCPU_XCRS] = { "xcrs", MIG_SMALL_BLOB_MAX },
	[MIG_VCPU_MSRS] = { "msrs", MIG_LARGE_BLOB_MAX },
	[MIG_VCPU_LAPIC] = { "lapic", MIG_SMALL_BLOB_MAX },
	[MIG_VCPU_EVENTS] = { "events", MIG_SMALL_BLOB_MAX },
	[MIG_VCPU_MP_STATE] = { "mp_state", MIG_SMALL_BLOB_MAX },
	[MIG_VCPU_DEBUGREGS] = { "debugregs", MIG_SMALL_BLOB_MAX },
	[MIG_VCPU_TSC_KHZ] = { "tsc_khz", MIG_SMALL_BLOB_MAX },
};

const struct mig_tag_info mig_irqchip_tags[MIG_IRQCHIP_NR_TAGS] = {
	[MIG_IRQCHIP_PIC_MASTER] = { "pic_master", MIG_SMALL_BLOB_MAX },
	[MIG_IRQCHIP_PIC_SLAVE] = { "pic_slave", MIG_SMALL_BLOB_MAX },
	[MIG_IRQCHIP_IOAPIC] = { "ioapic", MIG_SMALL_BLOB_MAX },
};

const char *mig_section_name(uint32_t type)
{
	static const char *const names[] = {
		[MIG_SECTION_RAM] = "RAM",	   [MIG_SECTION_VCPU] = "VCPU",
		[MIG_SECTION_IRQCHIP] = "IRQCHIP", [MIG_SECTION_PIT] = "PIT",
		[MIG_SECTION_CLOCK] = "CLOCK",	   [MIG_SECTION_DEVICE] = "DEVICE",
		[MIG_SECTION_END] = "END",	   [MIG_SECTION_SYNC] = "SYNC",
		[MIG_SECTION_ONE_WAY] = "ONE_WAY",
	};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : NULL;
}

/* The most a section of tagged blobs can hold: every tag once at its limit. */
static uint64_t tagged_max(const struct mig_tag_info *tags, unsigned nr)
{
	uint64_t max = 0;

	for (unsigned t = 1; t < nr; t++)
		max += MIG_BLOB_HEADER_SIZE + tags[t].max;
	return max;
}

void mig_section_bounds(uint32_t type, uint64_t *min, uint64_t *max)
{
	switch (type) {
	case MIG_SECTION_RAM:
		*min = 4 + MIG_PAGE_ENTRY_SIZE;
		*max = 4 + MIG_RAM_BATCH_MAX * (MIG_PAGE_ENTRY_SIZE + MEM_PAGE_SIZE);
		break;
	case MIG_SECTION_VCPU:
		*min = 4;
		*max = 4 + tagged_max(mig_vcpu_tags, MIG_VCPU_NR_TAGS);
		break;
	case MIG_SECTION_IRQCHIP:
		*min = 0;
		*max = tagged_max(mig_irqchip_tags, MIG_IRQCHIP_NR_TAGS);
		break;
	case MIG_SECTION_PIT:
	case MIG_SECTION_CLOCK:
		*min = 1;
		*max = MIG_SMALL_BLOB_MAX;
		break;
	case MIG_SECTION_DEVICE:
		*min = 1 + 1 + 4;
		*max = 1 + MIG_DEVICE_NAME_MAX + 4 + MIG_DEVICE_STATE_MAX;
		break;
	case MIG_SECTION_SYNC:
	case MIG_SECTION_ONE_WAY:
		*min = 0;
		*max = 0;
		break;
	default:	/* END */
		*min = MIG_END_PAYLOAD_SIZE;
		*max = MIG_END_PAYLOAD_SIZE;
		break;
	}
}

bool mig_device_name_valid(const char *name, size_t len)
{
	if (len < 1 || len > MIG_DEVICE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

void mig_cpuid_entry_put(uint8_t *out, const struct mig_cpuid_entry *e)
{
	const uint32_t v[7] = { e->function, e->index, e->flags, e->eax, e->ebx, e->ecx, e->edx };

	for (unsigned i = 0; i < 7; i++)
		le32_put(out + 4 * i, v[i]);
}

void mig_cpuid_entry_get(const uint8_t *in, struct mig_cpuid_entry *e)
{
	*e = (struct mig_cpuid_entry){
		.function = le32_get(in), .index = le32_get(in + 4), .flags = le32_get(in + 8),
		.eax = le32_get(in + 12), .ebx = le32_get(in + 16), .ecx = le32_get(in + 20),
		.edx = le32_get(in + 24),
	};
}

uint64_t mig_cpuid_hash(const struct mig_cpuid_entry *entries, uint32_t n)
{
	struct mig_hash h;
	uint8_t buf[MIG_CPUID_ENTRY_SIZE];

	mig_hash_init(&h, 0);
	for (uint32_t i = 0; i < n; i++) {
		mig_cpuid_entry_put(buf, &entries[i]);
		mig_hash_update(&h, buf, sizeof(buf));
	}
	return mig_hash_digest(&h);
}

int mig_cpuid_repeated(const struct mig_cpuid_entry *entries, uint32_t n)
{
	/* Bit 0 of the flags: the sub-leaf index counts (KVM_CPUID_FLAG_SIGNIFCANT_INDEX). */
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < i; j++)
			if (entries[i].function == entries[j].function &&
			    (!(entries[i].flags & entries[j].flags & 1) ||
			     entries[i].index == entries[j].index))
				return (int)i;
	return -1;
}

bool mig_page_is_zero(const void *page)
{
	const uint64_t *w = page;
	uint64_t any = 0;

	/* Eight words at a time without a branch each: most pages are either zero all along
	 * or differ in their first line. */
	for (unsigned i = 0; i < MEM_PAGE_SIZE / 8; i += 8) {
		for (unsigned j = 0; j < 8; j++)
			any |= w[i + j];
		if (any)
			return false;
	}
	return true;
}

void *mig_page_ptr(const struct guest_mem *mem, uint64_t gpn)
{
	if (gpn > UINT64_MAX / MEM_PAGE_SIZE)
		return NULL;
	return guest_mem_ptr(mem, gpn * MEM_PAGE_SIZE, MEM_PAGE_SIZE);
}

void mig_state_free(struct mig_state *st)
{
	if (st->vcpus != NULL)
		for (unsigned i = 0; i < st->nr_vcpus; i++)
			for (unsigned t = 0; t < MIG_VCPU_NR_TAGS; t++)
				free(st->vcpus[i].blobs[t].data);
	free(st->vcpus);
	for (unsigned t = 0; t < MIG_IRQCHIP_NR_TAGS; t++)
		free(st->irqchip[t].data);
	free(st->pit.data);
	free(st->clock.data);
	for (unsigned i = 0; i < MIG_MAX_DEVICES; i++)
		free(st->devices[i].data);
	memset(st, 0, sizeof(*st));
}

int mig_membuf_write(void *ctx, const void *buf, size_t len)
{
	struct mig_membuf *m = ctx;

	if (len == 0)
		return 0;
	if (len > m->cap - m->len) {
		size_t cap = m->cap ? m->cap : 4096;
		uint8_t *data;

		while (cap - m->len < len) {
			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		data = realloc(m->data, cap);
		if (data == NULL)
			return -ENOMEM;
		m->data = data;
		m->cap = cap;
	}
	memcpy(m->data + m->len, buf, len);
	m->len += len;
	return 0;
}

ssize_t mig_membuf_read(void *ctx, void *buf, size_t len)
{
	struct mig_membuf *m = ctx;
	size_t left = m->len - m->pos;

	if (len > left)
		len = left;
	if (len > 0)
		memcpy(buf, m->data + m->pos, len);
	m->pos += len;
	return (ssize_t)len;
}

void mig_membuf_free(struct mig_membuf *m)
{
	free(m->data);
	memset(m, 0, sizeof(*m));
}

int mig_fd_write(void *ctx, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int fd = *(int *)ctx;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* a full disk says ENOSPC; nothing else returns 0 */
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t mig_fd_read(void *ctx, void *buf, size_t len)
{
	int fd = *(int *)ctx;
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}
