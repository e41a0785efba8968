/* What the migration stream's writer and reader share: the layout's fixed sizes, the limits of
 * each section and blob, and little-endian access.  Private to src/migration. */
#ifndef HOPVM_MIGRATION_STREAM_INTERNAL_H
#define HOPVM_MIGRATION_STREAM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hopvm/le.h"
#include "hopvm/migration_stream.h"

/* Header: magic 8, version 4, header length 4, ram_size 8, nr_vcpus 4, nr_cpuid_entries 4,
 * cpuid_hash 8, nr_devices 4; then per device: name length 1, name, version 4; then per CPUID
 * entry: function, index, flags, eax, ebx, ecx, edx, 4 each. */
#define MIG_HEADER_FIXED_SIZE 44
#define MIG_HEADER_DEVICE_SIZE(name_len) (1 + (name_len) + 4)
#define MIG_CPUID_ENTRY_SIZE 28
#define MIG_HEADER_MAX_SIZE \
	(MIG_HEADER_FIXED_SIZE + MIG_MAX_DEVICES * MIG_HEADER_DEVICE_SIZE(MIG_DEVICE_NAME_MAX) + \
	 MIG_MAX_CPUID_ENTRIES * MIG_CPUID_ENTRY_SIZE)

/* The entry's wire form, and back. */
void mig_cpuid_entry_put(uint8_t *out, const struct mig_cpuid_entry *e);
void mig_cpuid_entry_get(const uint8_t *in, struct mig_cpuid_entry *e);

/* The hash the header's cpuid_hash field holds: of the entries' wire form. */
uint64_t mig_cpuid_hash(const struct mig_cpuid_entry *entries, uint32_t n);

/* The index of an entry that repeats an earlier one's leaf (and sub-leaf, where the index
 * counts), or -1. */
int mig_cpuid_repeated(const struct mig_cpuid_entry *entries, uint32_t n);
#define MIG_SECTION_HEADER_SIZE 16	/* type 4, flags 4, payload length 8 */
#define MIG_PAGE_ENTRY_SIZE 9		/* page number 8, kind 1 */
#define MIG_BLOB_HEADER_SIZE 8		/* tag 4, length 4 */
#define MIG_END_PAYLOAD_SIZE 16		/* checksum 8, RAM hash 8 */

struct mig_tag_info {
	const char *name;	/* NULL: no such tag */
	uint32_t max;		/* bytes */
};

extern const struct mig_tag_info mig_vcpu_tags[MIG_VCPU_NR_TAGS];
extern const struct mig_tag_info mig_irqchip_tags[MIG_IRQCHIP_NR_TAGS];

/* "RAM", "VCPU", ... or NULL for an unknown type. */
const char *mig_section_name(uint32_t type);

/* The payload lengths a section of this type may declare. */
void mig_section_bounds(uint32_t type, uint64_t *min, uint64_t *max);

/* 1..MIG_DEVICE_NAME_MAX characters of [a-z0-9-]. */
bool mig_device_name_valid(const char *name, size_t len);

bool mig_page_is_zero(const void *page);

/* The page number's range within mem, or NULL if it is not wholly RAM. */
void *mig_page_ptr(const struct guest_mem *mem, uint64_t gpn);

/* The reader's private parts (stream_read.c), shared with the section parser. */
enum mig_phase {
	MIG_PHASE_HEADER,
	MIG_PHASE_SECTION_HEADER,
	MIG_PHASE_PAYLOAD,
	MIG_PHASE_DONE,
};

/* Reads exactly len bytes (into the checksum if asked); a truncation or a read error is
 * refused with a message saying where the stream stopped. */
int mig_get(struct mig_reader *r, void *buf, size_t len, bool checksummed);

/* mig_get() within the current section's payload: what (e.g. "page entry") may not run past
 * its end. */
int mig_take(struct mig_reader *r, void *buf, size_t len, const char *what);

/* Refuses the stream: "migration stream: <where> at offset <offset>: <message>", where is the
 * header or the current section by type and index.  Returns ret. */
int mig_refuse(struct mig_reader *r, int ret, uint64_t offset, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Copies len bytes of a name from the stream into out (len + 1 bytes), '?' for any byte that
 * would not print, so a hostile name cannot garble the message it appears in. */
void mig_printable(char *out, const void *in, size_t len);

#endif
