/* The migration stream: the byte format that carries a guest from one hopvm to another (or to a
 * file and back), its writer and its validating reader.  No KVM here: the code that captures
 * and restores KVM state builds on this API.  The README's "Migration stream format" section
 * documents every field.
 *
 * A stream is a header (magic, format version, the machine the guest needs) and then sections,
 * each {u32 type, u32 flags, u64 payload length, payload}, ending with an END section that holds
 * a checksum of every byte before it and a hash of all guest RAM.  Everything is little-endian.
 *
 * The reader treats the stream as hostile: every count, length, page number, id and name is
 * checked before it is used, and every refusal returns -EBADMSG (or -EPROTO when the stream is
 * well formed but its version or machine differ from ours) with an err_msg() that names the
 * section and the stream offset of the bad field, e.g.
 *   "migration stream: RAM section 3 at offset 8123: page 0x12345 lies outside guest RAM".
 *
 * Why the reader collects vCPU, irqchip, clock and device state instead of handing each blob to
 * a callback: KVM wants state restored in an order of its own (MP state, registers, special
 * registers, XSAVE, LAPIC after SREGS, MSRs, then events last), which need not be the stream's,
 * and nothing should reach KVM or a device model before END's checksum has been verified.  So
 * mig_read_sections() returns everything in a struct mig_state, validated, and the KVM glue
 * applies it in its own order.  RAM pages are different: they are too many to hold twice, so
 * they go straight into guest memory as they arrive (a refused stream leaves RAM half written:
 * never run a guest whose stream was refused). */
#ifndef HOPVM_MIGRATION_STREAM_H
#define HOPVM_MIGRATION_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hopvm/memory.h"

#define MIG_MAGIC "HOPVMIG"	/* 8 bytes with its NUL */
#define MIG_MAGIC_SIZE 8
/* 2: the header carries the guest's CPU model entry by entry (1 had only its hash). */
#define MIG_VERSION 2

/* Limits the reader enforces (the README lists them too). */
#define MIG_MAX_VCPUS 254	/* as hopvm's MP table: 8-bit APIC IDs, 255 broadcasts */
#define MIG_MAX_CPUID_ENTRIES 256	/* KVM's own limit (KVM_MAX_CPUID_ENTRIES) */
#define MIG_CPUID_FLAGS_KNOWN 0x7	/* KVM_CPUID_FLAG_SIGNIFCANT_INDEX and the stateful two */
#define MIG_MAX_DEVICES 32
#define MIG_DEVICE_NAME_MAX 31	/* characters of [a-z0-9-] */
#define MIG_RAM_BATCH_MAX 1024	/* pages per RAM section */
#define MIG_DEVICE_STATE_MAX (1U << 20)
#define MIG_SMALL_BLOB_MAX 4096	/* PIT, clock, irqchip blobs, most vCPU blobs */
#define MIG_LARGE_BLOB_MAX 65536	/* vCPU xsave and msrs */

enum mig_section_type {
	MIG_SECTION_RAM = 1,
	MIG_SECTION_VCPU = 2,
	MIG_SECTION_IRQCHIP = 3,
	MIG_SECTION_PIT = 4,
	MIG_SECTION_CLOCK = 5,
	MIG_SECTION_DEVICE = 6,
	MIG_SECTION_END = 7,
	MIG_SECTION_SYNC = 8,	/* empty: "tell me when you have read this far" (live only) */
	MIG_SECTION_ONE_WAY = 9,	/* empty, first if at all: a snapshot, whose writer reads
					 * no answers (file:, or migrate snapshot=true) */
};

enum mig_page_kind {
	MIG_PAGE_ZERO = 0,	/* all zero: no data follows */
	MIG_PAGE_DATA = 1,	/* 4096 bytes follow */
};

/* The tagged blobs of a VCPU section, numbered from 1 in the stream; each is opaque here (the KVM
 * glue knows it as the ioctl's struct) and appears at most once per vCPU. */
enum mig_vcpu_tag {
	MIG_VCPU_REGS = 1,	/* KVM_GET_REGS */
	MIG_VCPU_SREGS,		/* KVM_GET_SREGS */
	MIG_VCPU_FPU,		/* KVM_GET_FPU, where there is no XSAVE */
	MIG_VCPU_XSAVE,		/* KVM_GET_XSAVE / XSAVE2 (up to 64 KiB) */
	MIG_VCPU_XCRS,		/* KVM_GET_XCRS */
	MIG_VCPU_MSRS,		/* KVM_GET_MSRS: kvm_msrs and its entries (up to 64 KiB) */
	MIG_VCPU_LAPIC,		/* KVM_GET_LAPIC */
	MIG_VCPU_EVENTS,	/* KVM_GET_VCPU_EVENTS */
	MIG_VCPU_MP_STATE,	/* KVM_GET_MP_STATE */
	MIG_VCPU_DEBUGREGS,	/* KVM_GET_DEBUGREGS */
	MIG_VCPU_TSC_KHZ,	/* KVM_GET_TSC_KHZ, as a u32 */
	MIG_VCPU_NR_TAGS	/* one past the last: arrays below are indexed by tag */
};

/* The tagged blobs of the IRQCHIP section (KVM_GET_IRQCHIP's three chips). */
enum mig_irqchip_tag {
	MIG_IRQCHIP_PIC_MASTER = 1,
	MIG_IRQCHIP_PIC_SLAVE,
	MIG_IRQCHIP_IOAPIC,
	MIG_IRQCHIP_NR_TAGS
};

/* Opaque bytes.  data == NULL means absent; the reader allocates data, mig_state_free() frees
 * it.  Tagged blobs (vCPU, irqchip) and PIT and clock state are never empty; a device's state
 * may be. */
struct mig_blob {
	void *data;
	uint32_t len;
};

struct mig_device_desc {
	char name[MIG_DEVICE_NAME_MAX + 1];
	uint32_t version;	/* of the device's state format */
};

/* One entry of the guest's CPU model, as KVM_SET_CPUID2 takes it (kvm_cpuid_entry2). */
struct mig_cpuid_entry {
	uint32_t function, index, flags;
	uint32_t eax, ebx, ecx, edx;
};

/* What the guest needs of the machine it runs on: the destination must have the same RAM,
 * vCPUs and devices (each listed once, in any order).  The CPU model is the guest's own (no
 * per-vCPU APIC IDs): the destination gives it again if its KVM can (vm_state.h), so it is
 * not compared here. */
struct mig_machine {
	uint64_t ram_size;
	uint32_t nr_vcpus;
	uint32_t nr_cpuid_entries;	/* 1 to MIG_MAX_CPUID_ENTRIES, no leaf twice */
	/* mig_hash64() of the entries as the header carries them: the writer fills it in and the
	 * reader checks it, so the destination can trust the model at the handshake, before END's
	 * checksum. */
	uint64_t cpuid_hash;
	uint32_t nr_devices;
	struct mig_device_desc devices[MIG_MAX_DEVICES];
	struct mig_cpuid_entry cpuid[MIG_MAX_CPUID_ENTRIES];
};

struct mig_vcpu_state {
	struct mig_blob blobs[MIG_VCPU_NR_TAGS];	/* by tag; blobs[0] unused */
};

/* Everything a complete stream carries besides RAM, as mig_read_sections() returns it. */
struct mig_state {
	struct mig_vcpu_state *vcpus;	/* machine.nr_vcpus entries, by vCPU id */
	unsigned nr_vcpus;
	struct mig_blob irqchip[MIG_IRQCHIP_NR_TAGS];	/* by tag; [0] unused */
	struct mig_blob pit;
	struct mig_blob clock;
	struct mig_blob devices[MIG_MAX_DEVICES];	/* in the order of machine.devices */
	/* What the stream held, for statistics. */
	uint64_t ram_sections;
	uint64_t pages_data;
	uint64_t pages_zero;
	uint64_t bytes;		/* the whole stream, END included */
};

void mig_state_free(struct mig_state *st);

/* --- hashes --------------------------------------------------------------------------------
 * XXH64 (xxHash's 64-bit hash, which consumes 8-byte little-endian words in four lanes at
 * several GB/s), so anyone can check a stream with a stock xxHash. */

struct mig_hash {
	uint64_t v[4];
	uint64_t total;
	uint8_t buf[32];
	unsigned buffered;
	uint64_t seed;
};

void mig_hash_init(struct mig_hash *h, uint64_t seed);
void mig_hash_update(struct mig_hash *h, const void *data, size_t len);
uint64_t mig_hash_digest(const struct mig_hash *h);
uint64_t mig_hash64(const void *data, size_t len, uint64_t seed);

/* The hash of one 4 KiB page: 0 for a page of zeros (so fresh RAM hashes to 0), else XXH64 of
 * its bytes with its page number (gpa / 4096) as seed, or 1 where that is 0. */
uint64_t mig_page_hash(uint64_t gpn, const void *page);

/* The RAM hash kept page by page: the hash of each page as last sent (or received) and their
 * sum, which is mig_ram_hash() of the receiver's RAM if it started all zero.  The sender
 * cannot hash RAM while the guest runs, and neither side can afford to hash all of it while
 * the guest is stopped. */
struct mig_ram_hashes {
	const struct guest_mem *mem;
	uint64_t *hashes;	/* by page index: the pages of region 0, then region 1 */
	uint64_t sum;
};

int mig_ram_hashes_init(struct mig_ram_hashes *h, const struct guest_mem *mem)
	__attribute__((warn_unused_result));
/* Records page gpn's new hash (a gpn outside mem is ignored: callers check it first). */
void mig_ram_hashes_set(struct mig_ram_hashes *h, uint64_t gpn, uint64_t hash);
/* True if page gpn was last recorded as all zero (or never recorded). */
bool mig_ram_hashes_zero(const struct mig_ram_hashes *h, uint64_t gpn);
void mig_ram_hashes_free(struct mig_ram_hashes *h);

/* The hash of all guest RAM: the sum, modulo 2^64, of mig_page_hash() over every page of every
 * region.  A sum so that a sender can keep it up to date page by page as it sends (subtract a
 * page's old hash, add its new one) and the work can be split between threads.  Regions must be
 * whole pages (guest_mem_alloc() makes them so). */
uint64_t mig_ram_hash(const struct guest_mem *mem);

/* --- the writer ----------------------------------------------------------------------------
 * Calls write(ctx, buf, len) for each piece, which must take all len bytes and return 0, or
 * return a negative errno (the writer then fails every later call with it).  Pieces are small
 * (headers of a few bytes) or whole pages straight from guest memory: give a socket a buffer.
 * The writer checks what it is given the way the reader will, so a mistake fails on the source,
 * with a message, rather than on the destination; it does not check which sections came (each
 * vCPU once, and so on): the reader does. */

typedef int (*mig_write_fn)(void *ctx, const void *buf, size_t len);

struct mig_writer {
	mig_write_fn write;
	void *ctx;
	uint64_t offset;		/* bytes written so far */
	struct mig_hash checksum;	/* over every byte before the END section */
	struct mig_machine machine;	/* from mig_write_header() */
	int error;			/* the first failure, returned by every later call */
	bool header_done;
	bool ended;
	uint64_t pages_data;
	uint64_t pages_zero;
	struct mig_ram_hashes *sent;	/* if set, mig_write_ram() records what it sends */
};

void mig_writer_init(struct mig_writer *w, mig_write_fn write, void *ctx);

int mig_write_header(struct mig_writer *w, const struct mig_machine *machine)
	__attribute__((warn_unused_result));

/* One RAM section: count (1..MIG_RAM_BATCH_MAX) pages by page number, read from mem; pages
 * that are all zero travel as a marker only. */
int mig_write_ram(struct mig_writer *w, const struct guest_mem *mem, const uint64_t *gpns,
		  uint32_t count) __attribute__((warn_unused_result));

/* A VCPU section with the state's present blobs, in tag order. */
int mig_write_vcpu(struct mig_writer *w, uint32_t vcpu_id, const struct mig_vcpu_state *state)
	__attribute__((warn_unused_result));

/* An IRQCHIP section with the present blobs of irqchip[MIG_IRQCHIP_NR_TAGS] (by tag). */
int mig_write_irqchip(struct mig_writer *w, const struct mig_blob *irqchip)
	__attribute__((warn_unused_result));

int mig_write_pit(struct mig_writer *w, const struct mig_blob *pit)
	__attribute__((warn_unused_result));
int mig_write_clock(struct mig_writer *w, const struct mig_blob *clock)
	__attribute__((warn_unused_result));

/* A DEVICE section for a device of the header's list, with its listed version. */
int mig_write_device(struct mig_writer *w, const char *name, const struct mig_blob *state)
	__attribute__((warn_unused_result));

/* The ONE_WAY section, right after the header: a snapshot's writer says it reads no answers,
 * so a destination reading it from a command (--incoming exec:) neither waits for any. */
int mig_write_one_way(struct mig_writer *w) __attribute__((warn_unused_result));

/* A SYNC section: the live source asks the destination to say when it has read this far. */
int mig_write_sync(struct mig_writer *w) __attribute__((warn_unused_result));

/* The END section: the checksum of everything written so far and ram_hash, which the caller
 * computes with mig_ram_hash() (or keeps up to date with mig_page_hash()) after the last page
 * was sent, with the guest stopped. */
int mig_write_end(struct mig_writer *w, uint64_t ram_hash) __attribute__((warn_unused_result));

/* --- the reader ----------------------------------------------------------------------------
 * Calls read(ctx, buf, len) as read(2) works: it returns how many bytes it put in buf (1..len),
 * 0 at the end of the stream, or a negative errno.  A short count is fine (the reader asks
 * again), and it is what lets a truncation be reported at its exact offset.  The reader asks
 * for exactly the bytes it parses, never beyond END, so whatever follows END on a socket (the
 * destination's answer, say) stays there for the caller. */

typedef ssize_t (*mig_read_fn)(void *ctx, void *buf, size_t len);

struct mig_reader {
	mig_read_fn read;
	void *ctx;
	uint64_t offset;		/* bytes consumed so far */
	struct mig_hash checksum;
	struct mig_machine source;	/* the header's machine, after mig_read_header() */
	bool header_done;
	/* Called with each section's type as it starts, everything before it being in guest RAM
	 * (a live destination answers SYNC sections there); NULL for none.  A negative return
	 * refuses the stream. */
	int (*on_section)(void *ctx, uint32_t type);
	void *section_ctx;
	/* Private: where parsing is, for messages. */
	unsigned phase;
	uint64_t section_index;		/* sections are numbered from 0 in stream order */
	uint32_t section_type;
	uint64_t section_offset;
	uint64_t section_left;		/* payload bytes not yet parsed */
};

void mig_reader_init(struct mig_reader *r, mig_read_fn read, void *ctx);

/* Reads and checks the header, then compares its machine with local (the destination's):
 * -EPROTO for another version or a machine that differs, with a message naming the field and
 * both values ("the source's guest has 256 MiB of RAM, this one 128 MiB").  The source's
 * description is in r->source afterwards.  This is the handshake: nothing of the guest has
 * been read yet.  A NULL local skips the comparison (for a tool that only inspects streams). */
int mig_read_header(struct mig_reader *r, const struct mig_machine *local)
	__attribute__((warn_unused_result));

enum mig_read_flags {
	/* The stream must end right after END (a file or a buffer; not a socket that carries the
	 * destination's answer next). */
	MIG_READ_REQUIRE_EOF = 1 << 0,
	/* mem was all zero before the stream: END's RAM hash is checked against the hashes of the
	 * pages as they arrived (struct mig_ram_hashes) instead of by reading all of RAM, which
	 * would add to the guest's downtime. */
	MIG_READ_FRESH_RAM = 1 << 1,
};

/* Reads the sections up to and including END: RAM pages into mem (whose size must be the
 * header's), the rest into *st, then checks that everything a guest needs came (each vCPU,
 * the irqchip, PIT, clock and every listed device, once), the checksum, and the hash of mem.
 * On failure *st is freed and zeroed; on success the caller frees it with mig_state_free(). */
int mig_read_sections(struct mig_reader *r, struct guest_mem *mem, struct mig_state *st,
		      unsigned flags) __attribute__((warn_unused_result));

/* --- ends for the callbacks ----------------------------------------------------------------- */

/* A growing memory buffer to write to, and a buffer to read from (ctx: struct mig_membuf *). */
struct mig_membuf {
	uint8_t *data;
	size_t len;	/* bytes held */
	size_t cap;	/* bytes allocated (writing) */
	size_t pos;	/* next byte to read */
};

int mig_membuf_write(void *ctx, const void *buf, size_t len);
ssize_t mig_membuf_read(void *ctx, void *buf, size_t len);
void mig_membuf_free(struct mig_membuf *m);

/* A file descriptor: a file, a pipe or a socket (ctx: int *fd); EINTR is retried. */
int mig_fd_write(void *ctx, const void *buf, size_t len);
ssize_t mig_fd_read(void *ctx, void *buf, size_t len);

#endif
