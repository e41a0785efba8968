/* The migration stream: a round trip through the writer and reader, then every kind of corrupt,
 * truncated or hostile stream the reader must refuse, with the message it must give. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hopvm/cpu_model.h"
#include "hopvm/error.h"
#include "hopvm/migration_stream.h"
#include "hopvm/vm.h"
#include "hopvm/vm_state.h"
#include "unit.h"

/* 1 MiB of guest RAM in two regions, below the hole and from 4 GiB, as guest_mem_alloc() lays
 * out guests over 3 GiB (the codec only goes by the regions). */
#define LOW_SIZE (768U << 10)
#define HIGH_SIZE (256U << 10)
#define RAM_SIZE (LOW_SIZE + HIGH_SIZE)
#define LOW_PAGES (LOW_SIZE / 4096)
#define HIGH_PAGES (HIGH_SIZE / 4096)
#define HIGH_GPN (MEM_HIGH_START / 4096)

static uint8_t src_ram[RAM_SIZE], dst_ram[RAM_SIZE];
static struct guest_mem src_mem, dst_mem;

static void two_region_mem(struct guest_mem *mem, uint8_t *buf)
{
	memset(mem, 0, sizeof(*mem));
	mem->regions[0] = (struct guest_region){ .gpa = 0, .size = LOW_SIZE, .host = buf };
	mem->regions[1] = (struct guest_region){
		.gpa = MEM_HIGH_START, .size = HIGH_SIZE, .host = buf + LOW_SIZE,
	};
	mem->nr_regions = 2;
	mem->ram_size = RAM_SIZE;
}

static uint8_t *page_of(uint8_t *ram, uint64_t gpn)
{
	return gpn >= HIGH_GPN ? ram + LOW_SIZE + (gpn - HIGH_GPN) * 4096 : ram + gpn * 4096;
}

/* n CPUID entries of distinct leaves, whose registers say which they are. */
static void fill_cpuid(struct mig_machine *m, uint32_t n)
{
	m->nr_cpuid_entries = n;
	for (uint32_t i = 0; i < n; i++)
		m->cpuid[i] = (struct mig_cpuid_entry){
			.function = 0x1000 + i, .eax = i, .ebx = ~i,
			.ecx = i << 8, .edx = i * 3,
		};
	/* Two sub-leaves of leaf 7, as KVM lists them. */
	m->cpuid[1] = (struct mig_cpuid_entry){ .function = 7, .index = 0, .flags = 1, .ebx = 5 };
	m->cpuid[2] = (struct mig_cpuid_entry){ .function = 7, .index = 1, .flags = 1, .eax = 6 };
}

static struct mig_machine full_machine(void)
{
	struct mig_machine m = {
		.ram_size = RAM_SIZE, .nr_vcpus = 2, .nr_devices = 2,
	};

	fill_cpuid(&m, 40);

	strcpy(m.devices[0].name, "uart-16550");
	m.devices[0].version = 1;
	strcpy(m.devices[1].name, "rtc-cmos");
	m.devices[1].version = 2;
	return m;
}

static struct mig_machine small_machine(void)
{
	struct mig_machine m = {
		.ram_size = RAM_SIZE, .nr_vcpus = 1, .nr_devices = 1,
	};

	fill_cpuid(&m, 3);

	strcpy(m.devices[0].name, "uart-16550");
	m.devices[0].version = 1;
	return m;
}

/* Blob contents that say where they belong, so a mix-up shows. */
static uint8_t blob_bytes[MIG_VCPU_NR_TAGS * 2][512];

static struct mig_blob blob(unsigned which, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		blob_bytes[which][i] = (uint8_t)(which * 31 + i);
	return (struct mig_blob){ .data = blob_bytes[which], .len = len };
}

static struct mig_vcpu_state vcpu_blobs(unsigned id)
{
	struct mig_vcpu_state s = { 0 };

	for (unsigned t = 1; t < MIG_VCPU_NR_TAGS; t++)
		if (t != MIG_VCPU_FPU)	/* XSAVE instead */
			s.blobs[t] = blob(id * MIG_VCPU_NR_TAGS + t, 16 * t + id);
	return s;
}

static uint8_t irq_bytes[3][64], pit_bytes[112], clock_bytes[48], rtc_bytes[128];

static struct mig_blob irqchip[MIG_IRQCHIP_NR_TAGS];

static int setup(void **state)
{
	(void)state;
	memset(src_ram, 0, sizeof(src_ram));
	memset(dst_ram, 0, sizeof(dst_ram));
	two_region_mem(&src_mem, src_ram);
	two_region_mem(&dst_mem, dst_ram);
	for (unsigned c = 0; c < 3; c++) {
		memset(irq_bytes[c], 0x10 + c, sizeof(irq_bytes[c]));
		irqchip[c + 1] = (struct mig_blob){ .data = irq_bytes[c], .len = 40 + c };
	}
	memset(pit_bytes, 0x21, sizeof(pit_bytes));
	memset(clock_bytes, 0x22, sizeof(clock_bytes));
	memset(rtc_bytes, 0x23, sizeof(rtc_bytes));
	err_clear();
	return 0;
}

static void write_all_pages(struct mig_writer *w, const struct guest_mem *mem)
{
	uint64_t gpns[LOW_PAGES];

	for (unsigned i = 0; i < LOW_PAGES; i++)
		gpns[i] = i;
	assert_int_equal(mig_write_ram(w, mem, gpns, LOW_PAGES), 0);
	for (unsigned i = 0; i < HIGH_PAGES; i++)
		gpns[i] = HIGH_GPN + i;
	assert_int_equal(mig_write_ram(w, mem, gpns, HIGH_PAGES), 0);
}

/* The state sections of the full machine, vCPU 1 first: the order is free. */
static void write_state(struct mig_writer *w)
{
	struct mig_vcpu_state v0 = vcpu_blobs(0), v1 = vcpu_blobs(1);
	struct mig_blob pit = { pit_bytes, sizeof(pit_bytes) };
	struct mig_blob clock = { clock_bytes, sizeof(clock_bytes) };
	struct mig_blob rtc = { rtc_bytes, sizeof(rtc_bytes) }, none = { NULL, 0 };

	assert_int_equal(mig_write_vcpu(w, 1, &v1), 0);
	assert_int_equal(mig_write_vcpu(w, 0, &v0), 0);
	assert_int_equal(mig_write_irqchip(w, irqchip), 0);
	assert_int_equal(mig_write_pit(w, &pit), 0);
	assert_int_equal(mig_write_clock(w, &clock), 0);
	assert_int_equal(mig_write_device(w, "rtc-cmos", &rtc), 0);
	assert_int_equal(mig_write_device(w, "uart-16550", &none), 0);	/* no state */
}

/* A first pass over every page, the state, a round of pages changed meanwhile, END. */
static void write_full(struct mig_membuf *out)
{
	const struct mig_machine m = full_machine();
	const uint64_t dirty[] = { 0, 7, HIGH_GPN + 63 };
	struct mig_writer w;

	for (unsigned i = 0; i < 6; i++)
		memset(page_of(src_ram, i * 37), 0x40 + i, 4096);
	memset(page_of(src_ram, HIGH_GPN), 0x50, 4096);
	page_of(src_ram, HIGH_GPN + 63)[4095] = 0x51;	/* RAM's last byte */

	mig_writer_init(&w, mig_membuf_write, out);
	assert_int_equal(mig_write_header(&w, &m), 0);
	write_all_pages(&w, &src_mem);
	write_state(&w);
	memset(page_of(src_ram, 0), 0, 4096);	/* was data, now zero */
	memset(page_of(src_ram, 7), 0x77, 4096);	/* was zero, now data */
	page_of(src_ram, HIGH_GPN + 63)[0] = 0x52;
	assert_int_equal(mig_write_ram(&w, &src_mem, dirty, 3), 0);
	assert_int_equal(mig_write_end(&w, mig_ram_hash(&src_mem)), 0);
	assert_int_equal(w.pages_data, 8 + 2);
	assert_int_equal(w.pages_zero, LOW_PAGES + HIGH_PAGES - 8 + 1);
	assert_int_equal(w.offset, out->len);
}

/* Reads a stream from buf; the machine defaults to the one it was written for. */
static int read_stream(const uint8_t *buf, size_t len, const struct mig_machine *local,
		       struct mig_state *st, unsigned flags)
{
	struct mig_membuf in = { .data = (uint8_t *)(uintptr_t)buf, .len = len };
	struct mig_reader r;
	int ret;

	memset(st, 0, sizeof(*st));
	err_clear();
	mig_reader_init(&r, mig_membuf_read, &in);
	ret = mig_read_header(&r, local);
	if (ret == 0)
		ret = mig_read_sections(&r, &dst_mem, st, flags);
	if (ret < 0)
		assert_true(strncmp(err_msg(), "migration stream: ", 18) == 0);
	return ret;
}

static void expect_refused(const uint8_t *buf, size_t len, const struct mig_machine *local,
			   int ret, const char *text)
{
	struct mig_state st;

	assert_int_equal(read_stream(buf, len, local, &st, MIG_READ_REQUIRE_EOF), ret);
	assert_err_mentions(text);
	assert_null(st.vcpus);	/* freed on failure */
}

static void check_state(const struct mig_state *st)
{
	for (unsigned id = 0; id < 2; id++) {
		struct mig_vcpu_state want = vcpu_blobs(id);

		for (unsigned t = 1; t < MIG_VCPU_NR_TAGS; t++) {
			assert_int_equal(st->vcpus[id].blobs[t].len, want.blobs[t].len);
			if (want.blobs[t].data == NULL)
				assert_null(st->vcpus[id].blobs[t].data);
			else
				assert_memory_equal(st->vcpus[id].blobs[t].data,
						    want.blobs[t].data, want.blobs[t].len);
		}
	}
	for (unsigned c = 1; c < MIG_IRQCHIP_NR_TAGS; c++) {
		assert_int_equal(st->irqchip[c].len, irqchip[c].len);
		assert_memory_equal(st->irqchip[c].data, irqchip[c].data, irqchip[c].len);
	}
	assert_int_equal(st->pit.len, sizeof(pit_bytes));
	assert_memory_equal(st->pit.data, pit_bytes, sizeof(pit_bytes));
	assert_int_equal(st->clock.len, sizeof(clock_bytes));
	assert_memory_equal(st->clock.data, clock_bytes, sizeof(clock_bytes));
	/* Devices come in the header's order: uart-16550 (empty), rtc-cmos. */
	assert_null(st->devices[0].data);
	assert_int_equal(st->devices[0].len, 0);
	assert_int_equal(st->devices[1].len, sizeof(rtc_bytes));
	assert_memory_equal(st->devices[1].data, rtc_bytes, sizeof(rtc_bytes));
}

static void test_round_trip(void **state)
{
	const struct mig_machine m = full_machine();
	struct mig_membuf out = { 0 };
	struct mig_state st;

	(void)state;
	write_full(&out);
	memset(dst_ram, 0xaa, sizeof(dst_ram));	/* zero pages must clear this */
	assert_int_equal(read_stream(out.data, out.len, &m, &st, MIG_READ_REQUIRE_EOF), 0);
	assert_memory_equal(dst_ram, src_ram, RAM_SIZE);
	check_state(&st);
	assert_int_equal(st.ram_sections, 3);
	assert_int_equal(st.pages_data, 8 + 2);
	assert_int_equal(st.pages_zero, LOW_PAGES + HIGH_PAGES - 8 + 1);
	assert_int_equal(st.bytes, out.len);
	mig_state_free(&st);
	mig_state_free(&st);	/* twice is harmless */
	mig_membuf_free(&out);
}

/* A reader that gets a few bytes at a time, as from a socket. */
struct trickle {
	int fd;
	size_t max;
};

static ssize_t trickle_read(void *ctx, void *buf, size_t len)
{
	struct trickle *t = ctx;

	return mig_fd_read(&t->fd, buf, len < t->max ? len : t->max);
}

static void test_round_trip_through_a_file_in_small_reads(void **state)
{
	const struct mig_machine m = full_machine();
	struct mig_membuf out = { 0 };
	FILE *f = tmpfile();
	struct trickle t = { .fd = fileno(f), .max = 7 };
	struct mig_reader r;
	struct mig_state st;

	(void)state;
	write_full(&out);
	assert_int_equal(mig_fd_write(&t.fd, out.data, out.len), 0);
	assert_int_equal(lseek(t.fd, 0, SEEK_SET), 0);
	mig_reader_init(&r, trickle_read, &t);
	assert_int_equal(mig_read_header(&r, &m), 0);
	assert_string_equal(r.source.devices[1].name, "rtc-cmos");
	assert_int_equal(mig_read_sections(&r, &dst_mem, &st, MIG_READ_REQUIRE_EOF), 0);
	assert_memory_equal(dst_ram, src_ram, RAM_SIZE);
	check_state(&st);
	mig_state_free(&st);
	mig_membuf_free(&out);
	fclose(f);
}

/* The hash is XXH64: check it against xxHash's published values, fed whole and in pieces. */
static void test_hash_is_xxh64(void **state)
{
	static const char spam[] = "Nobody inspects the spammish repetition";
	static const char fox[] = "The quick brown fox jumps over the lazy dog";
	uint8_t big[1000];
	struct mig_hash h;

	(void)state;
	assert_true(mig_hash64("", 0, 0) == 0xef46db3751d8e999ULL);
	assert_true(mig_hash64("abc", 3, 0) == 0x44bc2cf5ad770999ULL);
	assert_true(mig_hash64(spam, strlen(spam), 0) == 0xfbcea83c8a378bf1ULL);
	assert_true(mig_hash64(fox, strlen(fox), 0) == 0x0b242d361fda71bcULL);
	for (unsigned i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	for (size_t step = 1; step < 70; step += 3) {
		mig_hash_init(&h, 99);
		for (size_t off = 0; off < sizeof(big); off += step)
			mig_hash_update(&h, big + off, off + step > sizeof(big) ?
					sizeof(big) - off : step);
		assert_true(mig_hash_digest(&h) == mig_hash64(big, sizeof(big), 99));
	}
}

static void test_ram_hash(void **state)
{
	uint64_t sum = 0, before;

	(void)state;
	memset(page_of(src_ram, 3), 9, 4096);
	for (unsigned i = 0; i < LOW_PAGES; i++)
		sum += mig_page_hash(i, page_of(src_ram, i));
	for (unsigned i = 0; i < HIGH_PAGES; i++)
		sum += mig_page_hash(HIGH_GPN + i, page_of(src_ram, HIGH_GPN + i));
	before = mig_ram_hash(&src_mem);
	assert_true(before == sum);
	assert_true(mig_page_hash(3, page_of(src_ram, 3)) ==
		    mig_hash64(page_of(src_ram, 3), 4096, 3));

	/* The same contents in another page are another RAM. */
	memset(page_of(src_ram, 3), 0, 4096);
	memset(page_of(src_ram, 4), 9, 4096);
	assert_true(mig_ram_hash(&src_mem) != before);

	/* Kept up to date page by page, as a sender may: out with the old, in with the new. */
	sum = mig_ram_hash(&src_mem);
	sum -= mig_page_hash(HIGH_GPN + 5, page_of(src_ram, HIGH_GPN + 5));
	page_of(src_ram, HIGH_GPN + 5)[17] = 1;
	sum += mig_page_hash(HIGH_GPN + 5, page_of(src_ram, HIGH_GPN + 5));
	assert_true(mig_ram_hash(&src_mem) == sum);
}

/* A small complete stream for the loops, with where its parts are. */
struct small {
	struct mig_membuf buf;
	size_t ram, vcpu, irqchip, pit, clock, device, end;
	size_t header_len;
};

static void write_small(struct small *s)
{
	const struct mig_machine m = small_machine();
	const uint64_t gpns[] = { 1, HIGH_GPN };
	struct mig_vcpu_state v = { 0 };
	struct mig_blob irq[MIG_IRQCHIP_NR_TAGS] = { { 0 } };
	struct mig_blob pit = { pit_bytes, 8 }, clock = { clock_bytes, 8 };
	struct mig_blob uart = { rtc_bytes, 4 };
	struct mig_writer w;

	memset(s, 0, sizeof(*s));
	memset(page_of(src_ram, 1), 0x61, 4096);
	v.blobs[MIG_VCPU_REGS] = blob(1, 16);
	v.blobs[MIG_VCPU_MP_STATE] = blob(2, 4);
	irq[MIG_IRQCHIP_IOAPIC] = (struct mig_blob){ irq_bytes[2], 8 };
	mig_writer_init(&w, mig_membuf_write, &s->buf);
	assert_int_equal(mig_write_header(&w, &m), 0);
	s->header_len = s->ram = w.offset;
	assert_int_equal(mig_write_ram(&w, &src_mem, gpns, 2), 0);
	s->vcpu = w.offset;
	assert_int_equal(mig_write_vcpu(&w, 0, &v), 0);
	s->irqchip = w.offset;
	assert_int_equal(mig_write_irqchip(&w, irq), 0);
	s->pit = w.offset;
	assert_int_equal(mig_write_pit(&w, &pit), 0);
	s->clock = w.offset;
	assert_int_equal(mig_write_clock(&w, &clock), 0);
	s->device = w.offset;
	assert_int_equal(mig_write_device(&w, "uart-16550", &uart), 0);
	s->end = w.offset;
	assert_int_equal(mig_write_end(&w, mig_ram_hash(&src_mem)), 0);
	assert_int_equal(s->end + 32, s->buf.len);
}

/* Bytes a reader cannot judge: page data and the opaque state blobs. */
static bool opaque_byte(const struct small *s, size_t off)
{
	const size_t ranges[][2] = {
		{ s->ram + 16 + 4 + 9, 4096 },	/* page 1's data */
		{ s->vcpu + 16 + 4 + 8, 16 },	/* regs */
		{ s->vcpu + 16 + 4 + 8 + 16 + 8, 4 },	/* mp_state */
		{ s->irqchip + 16 + 8, 8 },
		{ s->pit + 16, 8 },
		{ s->clock + 16, 8 },
		{ s->device + 16 + 1 + 10 + 4, 4 },
	};

	for (unsigned i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (off >= ranges[i][0] && off < ranges[i][0] + ranges[i][1])
			return true;
	return false;
}

static void test_small_stream_reads(void **state)
{
	const struct mig_machine m = small_machine();
	struct small s;
	struct mig_state st;

	(void)state;
	write_small(&s);
	assert_int_equal(read_stream(s.buf.data, s.buf.len, &m, &st, MIG_READ_REQUIRE_EOF), 0);
	assert_int_equal(st.vcpus[0].blobs[MIG_VCPU_MP_STATE].len, 4);
	assert_int_equal(st.devices[0].len, 4);
	mig_state_free(&st);
	mig_membuf_free(&s.buf);
}

static void test_truncated_everywhere(void **state)
{
	const struct mig_machine m = small_machine();
	struct small s;
	char text[64];

	(void)state;
	write_small(&s);
	for (size_t len = 0; len < s.buf.len; len++) {
		snprintf(text, sizeof(text), "truncated at offset %zu ", len);
		if (len == s.ram || len == s.vcpu || len == s.irqchip || len == s.pit ||
		    len == s.clock || len == s.device || len == s.end)
			snprintf(text, sizeof(text), "truncated at offset %zu: ", len);
		expect_refused(s.buf.data, len, &m, -EBADMSG, text);
	}
	/* Inside a section, the message names it. */
	expect_refused(s.buf.data, s.vcpu + 20, &m, -EBADMSG, "inside the VCPU section 1, which "
		       "starts at offset");
	expect_refused(s.buf.data, s.end, &m, -EBADMSG, "ends after section 5, without an END "
		       "section");
	expect_refused(s.buf.data, s.ram, &m, -EBADMSG, "ends after the header");
	expect_refused(s.buf.data, 3, &m, -EBADMSG, "truncated at offset 3 (inside the header)");
	mig_membuf_free(&s.buf);
}

static void test_flipped_byte_everywhere(void **state)
{
	const struct mig_machine m = small_machine();
	static const uint8_t flips[] = { 0xff, 0x01, 0x80 };
	struct mig_state st;
	struct small s;
	uint8_t *copy;

	(void)state;
	write_small(&s);
	copy = malloc(s.buf.len);
	assert_non_null(copy);
	for (size_t off = 0; off < s.buf.len; off++) {
		for (unsigned f = 0; f < sizeof(flips); f++) {
			memcpy(copy, s.buf.data, s.buf.len);
			copy[off] ^= flips[f];
			if (read_stream(copy, s.buf.len, &m, &st, MIG_READ_REQUIRE_EOF) == 0)
				fail_msg("a stream with byte %zu flipped by 0x%02x was accepted",
					 off, flips[f]);
			if (off < s.header_len)
				assert_null(strstr(err_msg(), "mismatch"));
			else if (opaque_byte(&s, off) || (off >= s.end + 16 && off < s.end + 24))
				assert_err_mentions("checksum mismatch");
			else if (off >= s.end + 24)
				assert_err_mentions("RAM hash mismatch");
		}
	}
	free(copy);
	mig_membuf_free(&s.buf);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Patches the small stream, expects a refusal that mentions text, and restores it. */
static void expect_patched(struct small *s, size_t off, const void *bytes, size_t n, int ret,
			   const char *text)
{
	const struct mig_machine m = small_machine();
	uint8_t saved[16];

	memcpy(saved, s->buf.data + off, n);
	memcpy(s->buf.data + off, bytes, n);
	expect_refused(s->buf.data, s->buf.len, &m, ret, text);
	memcpy(s->buf.data + off, saved, n);
}

static void expect_patched32(struct small *s, size_t off, uint32_t v, int ret, const char *text)
{
	uint8_t b[4];

	put32(b, v);
	expect_patched(s, off, b, 4, ret, text);
}

static void expect_patched64(struct small *s, size_t off, uint64_t v, int ret, const char *text)
{
	uint8_t b[8];

	put64(b, v);
	expect_patched(s, off, b, 8, ret, text);
}

static void test_bad_header(void **state)
{
	struct small s;
	char text[128];

	(void)state;
	write_small(&s);
	expect_patched(&s, 0, "HOPVMIX", 8, -EBADMSG, "header at offset 0: bad magic");
	expect_patched32(&s, 8, 3, -EPROTO, "header at offset 8: format version 3 is newer than "
			 "this hopvm's 2");
	expect_patched32(&s, 8, 1, -EPROTO, "header at offset 8: format version 1 is from an "
			 "older hopvm, which did not send the guest's CPU model");
	expect_patched32(&s, 8, 0, -EBADMSG, "format version 0 does not exist");
	snprintf(text, sizeof(text), "header at offset 12: header length %zu, but its fields "
		 "take %zu bytes", s.header_len + 1, s.header_len);
	expect_patched32(&s, 12, (uint32_t)s.header_len + 1, -EBADMSG, text);
	expect_patched32(&s, 12, 1 << 20, -EBADMSG, "header length 1048576 is not 44 to");
	expect_patched64(&s, 16, RAM_SIZE + 1, -EBADMSG, "header at offset 16: RAM size 1048577 "
			 "is not a whole number of 4 KiB pages");
	expect_patched32(&s, 24, 0, -EBADMSG, "header at offset 24: 0 vCPUs, not 1 to 254");
	expect_patched32(&s, 24, 255, -EBADMSG, "255 vCPUs");
	expect_patched32(&s, 28, 5000, -EBADMSG, "header at offset 28: 5000 CPUID entries, not "
			 "1 to 256");
	expect_patched32(&s, 28, 0, -EBADMSG, "header at offset 28: 0 CPUID entries");
	expect_patched32(&s, 40, 33, -EBADMSG, "header at offset 40: 33 devices");
	expect_patched(&s, 44, "\x20", 1, -EBADMSG, "header at offset 44: device 0's name is 32 "
		       "characters long");
	expect_patched(&s, 44, "\0", 1, -EBADMSG, "device 0's name is 0 characters long");
	expect_patched(&s, 45, "U", 1, -EBADMSG, "header at offset 45: device 0's name "
		       "\"Uart-16550\" is not made of a-z");
	expect_patched(&s, 45, "\n", 1, -EBADMSG, "\"?art-16550\"");
	mig_membuf_free(&s.buf);
}

static void test_device_listed_twice(void **state)
{
	struct mig_machine m = small_machine();
	struct mig_membuf out = { 0 };
	struct mig_writer w;

	(void)state;
	m.nr_devices = 2;
	strcpy(m.devices[0].name, "aa");
	strcpy(m.devices[1].name, "ab");
	mig_writer_init(&w, mig_membuf_write, &out);
	assert_int_equal(mig_write_header(&w, &m), 0);
	out.data[44 + 7 + 2] = 'a';	/* the second name, after "aa" and its version */
	expect_refused(out.data, out.len, &m, -EBADMSG, "header at offset 52: device \"aa\" is "
		       "listed twice");
	mig_membuf_free(&out);
}

static void test_machine_mismatch(void **state)
{
	const struct mig_machine src = full_machine();
	struct mig_membuf out = { 0 };
	struct mig_machine m;

	(void)state;
	write_full(&out);
	m = src;
	m.ram_size = 2 * RAM_SIZE;
	expect_refused(out.data, out.len, &m, -EPROTO, "header at offset 16: the source's guest "
		       "has 1 MiB of RAM, this one 2 MiB");
	m = src;
	m.nr_vcpus = 1;
	expect_refused(out.data, out.len, &m, -EPROTO, "header at offset 24: the source's guest "
		       "has 2 vCPUs, this one 1");
	m = src;
	m.nr_devices = 1;	/* no rtc-cmos */
	expect_refused(out.data, out.len, &m, -EPROTO, "header at offset 59: the source's guest "
		       "has a device \"rtc-cmos\" that this one lacks");
	m = src;
	m.devices[1].version = 3;
	expect_refused(out.data, out.len, &m, -EPROTO, "device \"rtc-cmos\" has state version 2 "
		       "at the source, 3 here");
	m = src;
	m.nr_devices = 3;
	strcpy(m.devices[2].name, "i8042");
	expect_refused(out.data, out.len, &m, -EPROTO, "header at offset 40: this guest has a "
		       "device \"i8042\" that the source's lacks");
	/* The order of the list does not matter. */
	m = src;
	m.devices[0] = src.devices[1];
	m.devices[1] = src.devices[0];
	{
		struct mig_state st;

		assert_int_equal(read_stream(out.data, out.len, &m, &st, 0), 0);
		mig_state_free(&st);
	}
	mig_membuf_free(&out);
}

/* The model travels whole, and the destination's own model has no say at the header. */
static void test_cpu_model_in_header(void **state)
{
	const struct mig_machine src = full_machine();
	struct mig_membuf out = { 0 }, in = { 0 };
	struct mig_machine m = src;
	struct mig_reader r;

	(void)state;
	write_full(&out);
	m.nr_cpuid_entries = 5;
	m.cpuid[3].eax ^= 1;
	in = (struct mig_membuf){ .data = out.data, .len = out.len };
	mig_reader_init(&r, mig_membuf_read, &in);
	assert_int_equal(mig_read_header(&r, &m), 0);
	assert_int_equal(r.source.nr_cpuid_entries, 40);
	assert_memory_equal(r.source.cpuid, src.cpuid, 40 * sizeof(src.cpuid[0]));
	assert_int_equal(r.source.cpuid_hash, get64(out.data + 32));
	mig_membuf_free(&out);
}

/* A header whose model is damaged or ambiguous is refused before anything runs on it. */
static void test_bad_cpu_model(void **state)
{
	struct small s;
	const size_t entries = 44 + 1 + 10 + 4;	/* after the fixed fields and "uart-16550" */
	char text[160];

	(void)state;
	write_small(&s);
	assert_int_equal(s.header_len, entries + 3 * 28);
	expect_patched32(&s, entries + 8, 9, -EBADMSG, "header at offset 67: CPUID entry 0 "
			 "(leaf 0x1000) has unknown flags 0x9");
	expect_patched32(&s, entries, 7, -EBADMSG, "header at offset 87: CPUID entry 1 repeats "
			 "leaf 0x7");
	snprintf(text, sizeof(text), "header at offset 32: the CPU model's hash 0x%016" PRIx64
		 " does not match its 3 entries", get64(s.buf.data + 32));
	expect_patched32(&s, entries + 2 * 28 + 12, 0x66, -EBADMSG, text);
	mig_membuf_free(&s.buf);
}

static void test_writer_checks_cpu_model(void **state)
{
	struct mig_machine m = small_machine();
	struct mig_membuf out = { 0 };
	struct mig_writer w;

	(void)state;
	mig_writer_init(&w, mig_membuf_write, &out);
	m.nr_cpuid_entries = 0;
	assert_int_equal(mig_write_header(&w, &m), -EINVAL);
	assert_err_mentions("0 CPUID entries, not 1 to 256");
	m = small_machine();
	m.cpuid[2].index = 0;
	assert_int_equal(mig_write_header(&w, &m), -EINVAL);
	assert_err_mentions("CPUID entry 2 repeats leaf 0x7");
	m = small_machine();
	m.cpuid[0].flags = 0x10;
	assert_int_equal(mig_write_header(&w, &m), -EINVAL);
	assert_err_mentions("unknown flags 0x10");
	assert_int_equal(out.len, 0);
	mig_membuf_free(&out);
}

/* A destination whose KVM lacks some of the guest's features refuses it, naming them all;
 * one with as much or more takes the source's model as it is. */
static void test_destination_refuses_missing_features(void **state)
{
	struct mig_machine src = { .ram_size = RAM_SIZE, .nr_vcpus = 1, .nr_cpuid_entries = 3 };
	struct kvm_cpuid2 *avail = calloc(1, sizeof(*avail) + 3 * sizeof(avail->entries[0]));
	struct kvm_cpuid2 *model = NULL;

	(void)state;
	assert_non_null(avail);
	src.cpuid[0] = (struct mig_cpuid_entry){ .function = 0, .eax = 7, .ebx = 0x756e6547 };
	/* sse4_2, avx, hypervisor; fpu */
	src.cpuid[1] = (struct mig_cpuid_entry){ .function = 1, .ecx = (1U << 20) | (1U << 28) |
						 (1U << 31), .edx = 1 };
	/* avx2 and a bit the table does not name */
	src.cpuid[2] = (struct mig_cpuid_entry){ .function = 7, .flags = 1,
						 .ebx = (1U << 5) | (1U << 13) };
	avail->nent = 2;
	avail->entries[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd };
	avail->entries[1] = (struct kvm_cpuid_entry2){ .function = 1, .ecx = (1U << 20) |
						       (1U << 31) | (1U << 24), .edx = 1 };
	assert_int_equal(vm_state_cpu_model(&src, avail, &model), -EPROTO);
	assert_null(model);
	assert_err_mentions("the source's guest has CPU features this host's KVM cannot give: "
			    "avx, avx2, CPUID 0x7.0 EBX bit 13");

	/* Without them (a guest started with --cpu host,-avx,-avx2 ...) it moves. */
	src.cpuid[1].ecx &= ~(1U << 28);
	src.cpuid[2].ebx = 0;
	assert_int_equal(vm_state_cpu_model(&src, avail, &model), 0);
	assert_non_null(model);
	assert_int_equal(model->nent, 3);
	/* The source's model, not this host's: no TSC-deadline added, leaf 0 as it was. */
	assert_int_equal(model->entries[0].eax, 7);
	assert_int_equal(model->entries[1].ecx, (1U << 20) | (1U << 31));
	assert_int_equal(model->entries[2].function, 7);
	assert_int_equal(model->entries[2].flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	free(model);

	src.cpuid[1].ecx |= 1U << 28;
	assert_int_equal(vm_state_cpu_model(&src, avail, &model), -EPROTO);
	assert_err_mentions("CPU feature this host's KVM cannot give: avx");
	free(avail);
}

/* The same through a destination VM's handshake (one with no vCPUs or devices yet): refused
 * with the message the source is sent back, or given the source's model in place of its own. */
static void test_handshake_takes_the_source_model(void **state)
{
	static struct vm vm;
	struct mig_machine src = { .ram_size = RAM_SIZE, .nr_vcpus = 1, .nr_cpuid_entries = 2 };
	struct mig_membuf out = { 0 }, in;
	struct mig_writer w;
	struct mig_reader r;

	(void)state;
	memset(&vm, 0, sizeof(vm));
	vm.cfg.ram_size = RAM_SIZE;
	vm.cfg.nr_vcpus = 1;
	vm.cpu_available = calloc(1, sizeof(*vm.cpu_available) + 2 * sizeof(struct kvm_cpuid_entry2));
	assert_non_null(vm.cpu_available);
	vm.cpu_available->nent = 2;
	vm.cpu_available->entries[1] = (struct kvm_cpuid_entry2){ .function = 1, .edx = 0x3ff };
	src.cpuid[0] = (struct mig_cpuid_entry){ .function = 0, .eax = 1 };
	src.cpuid[1] = (struct mig_cpuid_entry){ .function = 1, .edx = 0x201,
						 .ecx = (1U << 24) | (1U << 21) };
	mig_writer_init(&w, mig_membuf_write, &out);
	assert_int_equal(mig_write_header(&w, &src), 0);
	in = (struct mig_membuf){ .data = out.data, .len = out.len };
	mig_reader_init(&r, mig_membuf_read, &in);
	assert_int_equal(vm_state_read_header(&vm, &r), -EPROTO);
	assert_err_mentions("the source's guest has CPU features this host's KVM cannot give: "
			    "x2apic, tsc_deadline_timer");
	assert_null(vm.cpuid);

	vm.cpu_available->entries[1].ecx = (1U << 24) | (1U << 21) | (1U << 20);
	in.pos = 0;
	mig_reader_init(&r, mig_membuf_read, &in);
	assert_int_equal(vm_state_read_header(&vm, &r), 0);
	assert_non_null(vm.cpuid);
	assert_int_equal(vm.cpuid->nent, 2);
	assert_int_equal(vm.cpuid->entries[1].ecx, (1U << 24) | (1U << 21));	/* not sse4_2 */
	assert_int_equal(vm.cpuid->entries[1].edx, 0x201);
	free(vm.cpuid);
	free(vm.cpu_available);
	mig_membuf_free(&out);
}

/* A snapshot's writer says ONE_WAY first; the stream reads as any other.  Anywhere else, or
 * with a payload, it is refused. */
static void test_one_way(void **state)
{
	const struct mig_machine m = full_machine();
	struct mig_membuf out = { 0 }, bad = { 0 };
	struct mig_writer w;
	struct mig_state st;

	(void)state;
	mig_writer_init(&w, mig_membuf_write, &out);
	assert_int_equal(mig_write_header(&w, &m), 0);
	assert_int_equal(mig_write_one_way(&w), 0);
	write_all_pages(&w, &src_mem);
	write_state(&w);
	assert_int_equal(mig_write_end(&w, mig_ram_hash(&src_mem)), 0);
	assert_int_equal(read_stream(out.data, out.len, &m, &st, MIG_READ_REQUIRE_EOF), 0);
	assert_memory_equal(dst_ram, src_ram, RAM_SIZE);
	check_state(&st);
	mig_state_free(&st);

	mig_writer_init(&w, mig_membuf_write, &bad);
	assert_int_equal(mig_write_header(&w, &m), 0);
	write_all_pages(&w, &src_mem);
	assert_int_equal(mig_write_one_way(&w), 0);
	write_state(&w);
	assert_int_equal(mig_write_end(&w, mig_ram_hash(&src_mem)), 0);
	expect_refused(bad.data, bad.len, &m, -EBADMSG, "ONE_WAY must be the first section");
	mig_membuf_free(&bad);
	mig_membuf_free(&out);
}

static void test_bad_section_headers(void **state)
{
	struct small s;
	char text[128];

	(void)state;
	write_small(&s);
	snprintf(text, sizeof(text), "migration stream: section 1 at offset %zu: unknown section "
		 "type 99", s.vcpu);
	expect_patched32(&s, s.vcpu, 99, -EBADMSG, text);
	expect_patched32(&s, s.vcpu, 0, -EBADMSG, "unknown section type 0");
	snprintf(text, sizeof(text), "VCPU section 1 at offset %zu: flags 0x1, which must be 0",
		 s.vcpu + 4);
	expect_patched32(&s, s.vcpu + 4, 1, -EBADMSG, text);
	snprintf(text, sizeof(text), "RAM section 0 at offset %zu: payload length "
		 "18446744073709551615 is over the limit of 4203524", s.ram + 8);
	expect_patched64(&s, s.ram + 8, UINT64_MAX, -EBADMSG, text);
	expect_patched64(&s, s.pit + 8, 4097, -EBADMSG, "payload length 4097 is over the limit "
			 "of 4096");
	expect_patched64(&s, s.pit + 8, 0, -EBADMSG, "payload length 0 is under the minimum of 1");
	expect_patched64(&s, s.end + 8, 17, -EBADMSG, "END section 6");
	/* A length that ends early or late breaks the fields inside. */
	snprintf(text, sizeof(text), "VCPU section 1 at offset %zu: the blob header (8 bytes) "
		 "runs past the end of the payload (3 bytes left)", s.vcpu + 16 + 4 + 8 + 16);
	expect_patched64(&s, s.vcpu + 8, 4 + 8 + 16 + 3, -EBADMSG, text);
	snprintf(text, sizeof(text), "RAM section 0 at offset %zu: 1 byte left over",
		 s.vcpu);
	expect_patched64(&s, s.ram + 8, 4 + 9 + 4096 + 9 + 1, -EBADMSG, text);
	mig_membuf_free(&s.buf);
}

static void test_bad_ram(void **state)
{
	struct small s;
	char text[128];
	size_t entry;

	(void)state;
	write_small(&s);
	entry = s.ram + 16 + 4;
	snprintf(text, sizeof(text), "RAM section 0 at offset %zu: page 0xc0000 lies outside "
		 "guest RAM", entry);
	expect_patched64(&s, entry, 0xc0000, -EBADMSG, text);	/* the MMIO hole */
	expect_patched64(&s, entry, LOW_PAGES, -EBADMSG, "page 0xc0 lies outside guest RAM");
	expect_patched64(&s, entry, HIGH_GPN + HIGH_PAGES, -EBADMSG, "page 0x100040 lies "
			 "outside");
	expect_patched64(&s, entry, UINT64_MAX, -EBADMSG, "page 0xffffffffffffffff lies outside");
	snprintf(text, sizeof(text), "RAM section 0 at offset %zu: page 0x1 has kind 7", entry + 8);
	expect_patched(&s, entry + 8, "\x07", 1, -EBADMSG, text);
	snprintf(text, sizeof(text), "RAM section 0 at offset %zu: 0 pages in a batch, not 1 to "
		 "1024", s.ram + 16);
	expect_patched32(&s, s.ram + 16, 0, -EBADMSG, text);
	expect_patched32(&s, s.ram + 16, 1025, -EBADMSG, "1025 pages in a batch");
	expect_patched32(&s, s.ram + 16, 3, -EBADMSG, "the page entry (9 bytes) runs past the "
			 "end of the payload (0 bytes left)");
	mig_membuf_free(&s.buf);
}

static void test_bad_vcpu(void **state)
{
	struct small s;
	char text[128];
	size_t blob1 = 0, blob2 = 0;

	(void)state;
	write_small(&s);
	blob1 = s.vcpu + 16 + 4;
	blob2 = blob1 + 8 + 16;
	snprintf(text, sizeof(text), "VCPU section 1 at offset %zu: vCPU id 1 is out of range: "
		 "the guest has 1 vCPU", s.vcpu + 16);
	expect_patched32(&s, s.vcpu + 16, 1, -EBADMSG, text);
	expect_patched32(&s, s.vcpu + 16, UINT32_MAX, -EBADMSG, "vCPU id 4294967295 is out of "
			 "range");
	snprintf(text, sizeof(text), "VCPU section 1 at offset %zu: unknown vCPU 0 state tag 99",
		 blob1);
	expect_patched32(&s, blob1, 99, -EBADMSG, text);
	expect_patched32(&s, blob1, 0, -EBADMSG, "unknown vCPU 0 state tag 0");
	expect_patched32(&s, blob1, MIG_VCPU_NR_TAGS, -EBADMSG, "unknown vCPU 0 state tag 12");
	snprintf(text, sizeof(text), "VCPU section 1 at offset %zu: vCPU 0 state \"regs\" appears "
		 "twice", blob2);
	expect_patched32(&s, blob2, MIG_VCPU_REGS, -EBADMSG, text);
	snprintf(text, sizeof(text), "VCPU section 1 at offset %zu: vCPU 0 state \"regs\" of 5000 "
		 "bytes is not 1 to 4096 bytes", blob1 + 4);
	expect_patched32(&s, blob1 + 4, 5000, -EBADMSG, text);
	expect_patched32(&s, blob1 + 4, 0, -EBADMSG, "\"regs\" of 0 bytes is not 1 to 4096");
	expect_patched32(&s, blob1 + 4, 100, -EBADMSG, "vCPU 0 state \"regs\" of 100 bytes runs "
			 "past the end of the payload (28 bytes left)");
	expect_patched32(&s, s.irqchip + 16, 4, -EBADMSG, "IRQCHIP section 2 at offset");
	expect_patched32(&s, s.irqchip + 16, 4, -EBADMSG, "unknown irqchip state tag 4");
	mig_membuf_free(&s.buf);
}

static void test_bad_device(void **state)
{
	struct small s;
	char text[128];
	size_t name;

	(void)state;
	write_small(&s);
	name = s.device + 16 + 1;
	snprintf(text, sizeof(text), "DEVICE section 5 at offset %zu: device \"xart-16550\" is not "
		 "in the header's list", name);
	expect_patched(&s, name, "x", 1, -EBADMSG, text);
	expect_patched(&s, name, "_", 1, -EBADMSG, "device name \"_art-16550\" is not made of");
	expect_patched(&s, name - 1, "\0", 1, -EBADMSG, "a device name of 0 characters");
	snprintf(text, sizeof(text), "DEVICE section 5 at offset %zu: device \"uart-16550\" state "
		 "version 9, but the header says 1", name + 10);
	expect_patched32(&s, name + 10, 9, -EBADMSG, text);
	mig_membuf_free(&s.buf);
}

/* Streams the writer builds wrong on purpose: sections twice or missing. */
static void test_sections_once_and_all(void **state)
{
	const struct mig_machine m = full_machine();
	struct mig_vcpu_state v = vcpu_blobs(0);
	struct mig_blob pit = { pit_bytes, 8 }, none = { NULL, 0 };
	struct mig_membuf out = { 0 };
	struct mig_writer w;
	char text[128];
	uint64_t second;

	(void)state;
	mig_writer_init(&w, mig_membuf_write, &out);
	assert_int_equal(mig_write_header(&w, &m), 0);
	assert_int_equal(mig_write_vcpu(&w, 0, &v), 0);
	second = w.offset;
	assert_int_equal(mig_write_vcpu(&w, 0, &v), 0);
	snprintf(text, sizeof(text), "VCPU section 1 at offset %" PRIu64 ": vCPU 0 already came "
		 "in section 0", second + 16);
	expect_refused(out.data, out.len, &m, -EBADMSG, text);
	mig_membuf_free(&out);

	mig_writer_init(&w, mig_membuf_write, &out);
	assert_int_equal(mig_write_header(&w, &m), 0);
	assert_int_equal(mig_write_pit(&w, &pit), 0);
	assert_int_equal(mig_write_pit(&w, &pit), 0);
	expect_refused(out.data, out.len, &m, -EBADMSG, "PIT section 1 at offset");
	expect_refused(out.data, out.len, &m, -EBADMSG, "PIT already came in section 0");
	mig_membuf_free(&out);

	mig_writer_init(&w, mig_membuf_write, &out);
	assert_int_equal(mig_write_header(&w, &m), 0);
	assert_int_equal(mig_write_device(&w, "uart-16550", &none), 0);
	assert_int_equal(mig_write_device(&w, "uart-16550", &none), 0);
	expect_refused(out.data, out.len, &m, -EBADMSG, "device \"uart-16550\" already came");
	mig_membuf_free(&out);

	/* Everything but vCPU 1, then everything but the clock. */
	mig_writer_init(&w, mig_membuf_write, &out);
	assert_int_equal(mig_write_header(&w, &m), 0);
	write_all_pages(&w, &src_mem);
	assert_int_equal(mig_write_vcpu(&w, 0, &v), 0);
	assert_int_equal(mig_write_irqchip(&w, irqchip), 0);
	assert_int_equal(mig_write_pit(&w, &pit), 0);
	assert_int_equal(mig_write_clock(&w, &pit), 0);
	assert_int_equal(mig_write_device(&w, "uart-16550", &none), 0);
	assert_int_equal(mig_write_device(&w, "rtc-cmos", &none), 0);
	snprintf(text, sizeof(text), "END section 8 at offset %" PRIu64 ": the stream ends "
		 "without vCPU 1's state", w.offset);
	assert_int_equal(mig_write_end(&w, mig_ram_hash(&src_mem)), 0);
	expect_refused(out.data, out.len, &m, -EBADMSG, text);
	mig_membuf_free(&out);

	mig_writer_init(&w, mig_membuf_write, &out);
	assert_int_equal(mig_write_header(&w, &m), 0);
	v = vcpu_blobs(1);
	assert_int_equal(mig_write_vcpu(&w, 1, &v), 0);
	assert_int_equal(mig_write_vcpu(&w, 0, &v), 0);
	assert_int_equal(mig_write_irqchip(&w, irqchip), 0);
	assert_int_equal(mig_write_pit(&w, &pit), 0);
	assert_int_equal(mig_write_device(&w, "rtc-cmos", &none), 0);
	assert_int_equal(mig_write_end(&w, mig_ram_hash(&src_mem)), 0);
	expect_refused(out.data, out.len, &m, -EBADMSG, "ends without the CLOCK state");
	mig_membuf_free(&out);
}

static void test_end_and_after(void **state)
{
	const struct mig_machine m = small_machine();
	struct mig_state st;
	struct small s;
	uint8_t *longer;
	char text[160];
	uint64_t stored, computed;

	(void)state;
	write_small(&s);
	longer = malloc(s.buf.len + 1);
	assert_non_null(longer);
	memcpy(longer, s.buf.data, s.buf.len);
	longer[s.buf.len] = 0;
	snprintf(text, sizeof(text), "migration stream: data after the END section at offset %zu",
		 s.buf.len);
	expect_refused(longer, s.buf.len + 1, &m, -EBADMSG, text);
	/* On a socket the destination's answer follows END: without REQUIRE_EOF it stays. */
	assert_int_equal(read_stream(longer, s.buf.len + 1, &m, &st, 0), 0);
	mig_state_free(&st);
	free(longer);

	/* A byte of page data changed on the way: the checksum names both values. */
	s.buf.data[s.ram + 16 + 4 + 9 + 100] ^= 0x10;
	stored = get64(s.buf.data + s.end + 16);
	computed = mig_hash64(s.buf.data, s.end, 0);	/* everything before END */
	snprintf(text, sizeof(text), "END section 6 at offset %zu: checksum mismatch: the "
		 "source's checksum is 0x%016" PRIx64 ", the %zu bytes before END hash to "
		 "0x%016" PRIx64, s.end + 16, stored, s.end, computed);
	expect_refused(s.buf.data, s.buf.len, &m, -EBADMSG, text);
	s.buf.data[s.ram + 16 + 4 + 9 + 100] ^= 0x10;

	/* A page the stream did not carry differs at the destination. */
	memcpy(dst_ram, src_ram, RAM_SIZE);
	page_of(dst_ram, 100)[5] = 1;
	snprintf(text, sizeof(text), "END section 6 at offset %zu: RAM hash mismatch: guest RAM "
		 "hashes to 0x%016" PRIx64 " after loading, the source's hashed to 0x%016" PRIx64,
		 s.end + 24, mig_ram_hash(&dst_mem), get64(s.buf.data + s.end + 24));
	expect_refused(s.buf.data, s.buf.len, &m, -EBADMSG, text);
	page_of(dst_ram, 100)[5] = 0;
	expect_patched64(&s, s.end + 24, 5, -EBADMSG, "the source's hashed to 0x0000000000000005");
	mig_membuf_free(&s.buf);
}

/* Fails at offset 200, inside the first RAM section's page data. */
static ssize_t failing_read(void *ctx, void *buf, size_t len)
{
	struct mig_membuf *m = ctx;

	if (m->pos >= 200)
		return -EIO;
	return mig_membuf_read(ctx, buf, len < 200 - m->pos ? len : 200 - m->pos);
}

static int failing_write(void *ctx, const void *buf, size_t len)
{
	struct mig_membuf *m = ctx;

	if (m->len + len > 150)	/* the header (143 bytes) fits, no section after it */
		return -ENOSPC;
	return mig_membuf_write(ctx, buf, len);
}

static void test_io_errors(void **state)
{
	const struct mig_machine m = small_machine();
	struct mig_membuf out = { 0 }, in;
	struct mig_vcpu_state v = { 0 };
	struct mig_blob pit = { pit_bytes, 8 };
	struct mig_writer w;
	struct mig_reader r;
	struct mig_state st;
	struct small s;

	(void)state;
	write_small(&s);
	in = s.buf;
	in.pos = 0;
	mig_reader_init(&r, failing_read, &in);
	assert_int_equal(mig_read_header(&r, &m), 0);
	assert_int_equal(mig_read_sections(&r, &dst_mem, &st, 0), -EIO);
	assert_err_mentions("migration stream: cannot read at offset 200: Input/output error");
	assert_null(st.vcpus);
	mig_membuf_free(&s.buf);

	/* A failed write breaks the stream: every later call fails the same way. */
	mig_writer_init(&w, failing_write, &out);
	assert_int_equal(mig_write_header(&w, &m), 0);
	assert_int_equal(mig_write_pit(&w, &pit), -ENOSPC);
	assert_err_mentions("cannot write at offset 143: No space left on device");
	assert_int_equal(mig_write_vcpu(&w, 0, &v), -ENOSPC);
	assert_int_equal(mig_write_end(&w, 0), -ENOSPC);
	mig_membuf_free(&out);
}

static void test_writer_refuses(void **state)
{
	struct mig_machine m = small_machine();
	struct mig_membuf out = { 0 };
	struct mig_vcpu_state v = { 0 };
	struct mig_blob big = { rtc_bytes, MIG_SMALL_BLOB_MAX + 1 }, none = { NULL, 0 };
	struct mig_blob lying = { NULL, 4 };
	const uint64_t hole = 0xc0000;
	struct mig_writer w;
	uint64_t header_len;

	(void)state;
	mig_writer_init(&w, mig_membuf_write, &out);
	assert_int_equal(mig_write_pit(&w, &none), -EINVAL);
	assert_err_mentions("a section before the header");
	strcpy(m.devices[0].name, "Uart");
	assert_int_equal(mig_write_header(&w, &m), -EINVAL);
	assert_err_mentions("device name \"Uart\"");
	m = small_machine();
	m.nr_vcpus = 0;
	assert_int_equal(mig_write_header(&w, &m), -EINVAL);
	m = small_machine();
	m.ram_size = 4095;
	assert_int_equal(mig_write_header(&w, &m), -EINVAL);
	m = small_machine();
	assert_int_equal(mig_write_header(&w, &m), 0);
	header_len = w.offset;
	assert_int_equal(mig_write_header(&w, &m), -EINVAL);

	assert_int_equal(mig_write_ram(&w, &src_mem, &hole, 1), -EINVAL);
	assert_err_mentions("page 0xc0000 lies outside guest RAM");
	assert_int_equal(mig_write_ram(&w, &src_mem, &hole, 0), -EINVAL);
	assert_int_equal(mig_write_vcpu(&w, 1, &v), -EINVAL);
	assert_err_mentions("vCPU id 1 is out of range: the guest has 1 vCPU");
	v.blobs[MIG_VCPU_LAPIC] = big;
	assert_int_equal(mig_write_vcpu(&w, 0, &v), -EINVAL);
	assert_err_mentions("vCPU state \"lapic\" of 4097 bytes is not 1 to 4096 bytes");
	v.blobs[MIG_VCPU_LAPIC] = lying;
	assert_int_equal(mig_write_vcpu(&w, 0, &v), -EINVAL);
	assert_int_equal(mig_write_pit(&w, &none), -EINVAL);
	assert_err_mentions("no PIT state");
	assert_int_equal(mig_write_clock(&w, &big), -EINVAL);
	assert_int_equal(mig_write_device(&w, "i8042", &none), -EINVAL);
	assert_err_mentions("device \"i8042\" is not in the header's list");
	/* The refused calls wrote nothing. */
	assert_int_equal(w.offset, header_len);
	assert_int_equal(out.len, header_len);
	assert_int_equal(mig_write_end(&w, 0), 0);
	assert_int_equal(mig_write_pit(&w, &none), -EINVAL);
	assert_err_mentions("a section after END");
	mig_membuf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_round_trip, setup),
		cmocka_unit_test_setup(test_one_way, setup),
		cmocka_unit_test_setup(test_round_trip_through_a_file_in_small_reads, setup),
		cmocka_unit_test_setup(test_hash_is_xxh64, setup),
		cmocka_unit_test_setup(test_ram_hash, setup),
		cmocka_unit_test_setup(test_small_stream_reads, setup),
		cmocka_unit_test_setup(test_truncated_everywhere, setup),
		cmocka_unit_test_setup(test_flipped_byte_everywhere, setup),
		cmocka_unit_test_setup(test_bad_header, setup),
		cmocka_unit_test_setup(test_device_listed_twice, setup),
		cmocka_unit_test_setup(test_machine_mismatch, setup),
		cmocka_unit_test_setup(test_cpu_model_in_header, setup),
		cmocka_unit_test_setup(test_bad_cpu_model, setup),
		cmocka_unit_test_setup(test_writer_checks_cpu_model, setup),
		cmocka_unit_test_setup(test_destination_refuses_missing_features, setup),
		cmocka_unit_test_setup(test_handshake_takes_the_source_model, setup),
		cmocka_unit_test_setup(test_bad_section_headers, setup),
		cmocka_unit_test_setup(test_bad_ram, setup),
		cmocka_unit_test_setup(test_bad_vcpu, setup),
		cmocka_unit_test_setup(test_bad_device, setup),
		cmocka_unit_test_setup(test_sections_once_and_all, setup),
		cmocka_unit_test_setup(test_end_and_after, setup),
		cmocka_unit_test_setup(test_io_errors, setup),
		cmocka_unit_test_setup(test_writer_refuses, setup),
	};
	return cmocka_run_group_tests_name("migration_stream", tests, NULL, NULL);
}
