/* libFuzzer harness for the migration stream reader: any bytes, read as a destination would read
 * them, into a small guest RAM of two regions (below the MMIO hole and from 4 GiB).  The reader
 * must refuse or accept without a crash, a leak or undefined behaviour, and always explain a
 * refusal.
 *
 * Built with -DHOPVM_FUZZ_SEEDS instead, this file is the seed generator `make fuzz` runs first:
 * it writes valid streams for this harness's machine into the directory it is given, and reads
 * each back, so a seed the reader refuses is caught there.  A few seeds lack a section but have
 * a correct checksum: mutations of them reach the checks that come after the checksum's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hopvm/error.h"
#include "hopvm/migration_stream.h"

#define LOW_SIZE (32U << 10)
#define HIGH_SIZE (32U << 10)
#define RAM_SIZE (LOW_SIZE + HIGH_SIZE)
#define HIGH_GPN (MEM_HIGH_START / 4096)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t ram[RAM_SIZE];
static struct guest_mem mem;

static void fuzz_mem(void)
{
	memset(ram, 0, sizeof(ram));
	mem.regions[0] = (struct guest_region){ .gpa = 0, .size = LOW_SIZE, .host = ram };
	mem.regions[1] = (struct guest_region){
		.gpa = MEM_HIGH_START, .size = HIGH_SIZE, .host = ram + LOW_SIZE,
	};
	mem.nr_regions = 2;
	mem.ram_size = RAM_SIZE;
}

static struct mig_machine fuzz_machine(void)
{
	struct mig_machine m = {
		.ram_size = RAM_SIZE, .nr_vcpus = 2, .nr_cpuid_entries = 7, .nr_devices = 2,
	};

	for (uint32_t i = 0; i < m.nr_cpuid_entries; i++)
		m.cpuid[i] = (struct mig_cpuid_entry){ .function = i, .eax = i * 0x1111 };

	strcpy(m.devices[0].name, "uart-16550");
	m.devices[0].version = 1;
	strcpy(m.devices[1].name, "rtc-cmos");
	m.devices[1].version = 1;
	return m;
}

/* 0 if the stream was accepted, else the reader's error. */
static int read_stream(const uint8_t *data, size_t size)
{
	const struct mig_machine local = fuzz_machine();
	struct mig_membuf in = { .data = (uint8_t *)(uintptr_t)data, .len = size };
	struct mig_reader r;
	struct mig_state st;
	int ret;

	fuzz_mem();	/* every input starts from zeroed RAM, so seeds stay valid */
	err_clear();
	mig_reader_init(&r, mig_membuf_read, &in);
	ret = mig_read_header(&r, &local);
	if (ret == 0) {
		ret = mig_read_sections(&r, &mem, &st, MIG_READ_REQUIRE_EOF);
		if (ret == 0) {
			/* Accepted: everything was consumed and every vCPU is there. */
			if (st.bytes != size || st.nr_vcpus != local.nr_vcpus)
				abort();
			mig_state_free(&st);
		} else if (st.vcpus != NULL) {
			abort();	/* a refused stream leaves nothing to free */
		}
	}
	if (ret < 0 && strncmp(err_msg(), "migration stream: ", 18) != 0)
		abort();	/* every refusal explains itself */
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_stream(data, size);
	return 0;
}

#ifdef HOPVM_FUZZ_SEEDS
static uint8_t bytes[MIG_LARGE_BLOB_MAX];

static struct mig_blob some(uint32_t len, uint8_t fill)
{
	memset(bytes, fill, len);
	return (struct mig_blob){ bytes, len };
}

static int check(int ret)
{
	if (ret < 0) {
		fprintf(stderr, "fuzz seeds: %s\n", err_msg());
		exit(1);
	}
	return ret;
}

enum omit { OMIT_NOTHING, OMIT_VCPU1, OMIT_CLOCK, OMIT_DEVICE };

/* The state sections; blob sizes as KVM's structs have them, or 1 byte when tiny. */
static void write_state(struct mig_writer *w, bool tiny, enum omit omit)
{
	static const uint32_t sizes[MIG_VCPU_NR_TAGS] = {
		[MIG_VCPU_REGS] = 144, [MIG_VCPU_SREGS] = 312, [MIG_VCPU_XSAVE] = 4096,
		[MIG_VCPU_XCRS] = 392, [MIG_VCPU_MSRS] = 8 + 16 * 20, [MIG_VCPU_LAPIC] = 1024,
		[MIG_VCPU_EVENTS] = 64, [MIG_VCPU_MP_STATE] = 4, [MIG_VCPU_DEBUGREGS] = 128,
		[MIG_VCPU_TSC_KHZ] = 4,
	};
	struct mig_blob irq[MIG_IRQCHIP_NR_TAGS] = { { 0 } }, b;

	for (uint32_t id = 0; id < (omit == OMIT_VCPU1 ? 1 : 2); id++) {
		struct mig_vcpu_state v = { 0 };
		/* Blobs must not share the fill buffer: give each its own copy. */
		static uint8_t own[MIG_VCPU_NR_TAGS][4096 + 8];

		for (unsigned t = 1; t < MIG_VCPU_NR_TAGS; t++) {
			uint32_t len = tiny ? 1 : sizes[t];

			if (len == 0)
				continue;
			memset(own[t], (int)(t + id), len);
			v.blobs[t] = (struct mig_blob){ own[t], len };
		}
		check(mig_write_vcpu(w, id, &v));
	}
	for (unsigned c = 1; c < MIG_IRQCHIP_NR_TAGS; c++) {
		static uint8_t chip[MIG_IRQCHIP_NR_TAGS][512];

		memset(chip[c], (int)c, sizeof(chip[c]));
		irq[c] = (struct mig_blob){ chip[c], tiny ? 1 : 512 };
	}
	check(mig_write_irqchip(w, irq));
	b = some(tiny ? 1 : 112, 0x21);
	check(mig_write_pit(w, &b));
	b = some(tiny ? 1 : 48, 0x22);
	if (omit != OMIT_CLOCK)
		check(mig_write_clock(w, &b));
	b = some(0, 0);
	if (omit != OMIT_DEVICE)
		check(mig_write_device(w, "uart-16550", &b));
	b = some(tiny ? 1 : 128, 0x23);
	check(mig_write_device(w, "rtc-cmos", &b));
}

static void write_seed(const char *dir, const char *name, bool tiny, unsigned pages,
		       enum omit omit)
{
	const struct mig_machine m = fuzz_machine();
	struct mig_membuf out = { 0 };
	struct mig_writer w;
	char path[4096];
	FILE *f;

	fuzz_mem();
	mig_writer_init(&w, mig_membuf_write, &out);
	check(mig_write_header(&w, &m));
	if (pages > 0) {
		/* A first pass over pages from both regions (a few with data), then a round. */
		const uint64_t page1 = 1;
		uint64_t gpns[16];

		for (unsigned i = 0; i < pages; i++)
			gpns[i] = i % 2 ? HIGH_GPN + i / 2 : i / 2;
		ram[4096 + 7] = 1;	/* page 1 */
		ram[LOW_SIZE + 100] = 2;	/* the first page at 4 GiB */
		check(mig_write_ram(&w, &mem, gpns, pages));
		ram[4096 + 8] = 3;
		check(mig_write_ram(&w, &mem, &page1, 1));
	}
	write_state(&w, tiny, omit);
	check(mig_write_end(&w, mig_ram_hash(&mem)));

	if (omit == OMIT_NOTHING) {
		check(read_stream(out.data, out.len));
	} else if (read_stream(out.data, out.len) != -EBADMSG ||
		   strstr(err_msg(), "the stream ends without") == NULL) {
		fprintf(stderr, "fuzz seeds: %s was not refused at END: %s\n", name, err_msg());
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0) {
		fprintf(stderr, "fuzz seeds: cannot write %s\n", path);
		exit(1);
	}
	mig_membuf_free(&out);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
		return 2;
	}
	write_seed(argv[1], "state-only-tiny", true, 0, OMIT_NOTHING);
	write_seed(argv[1], "state-only", false, 0, OMIT_NOTHING);
	write_seed(argv[1], "pages-tiny", true, 4, OMIT_NOTHING);
	write_seed(argv[1], "pages", false, 16, OMIT_NOTHING);
	write_seed(argv[1], "incomplete-vcpu", true, 2, OMIT_VCPU1);
	write_seed(argv[1], "incomplete-clock", true, 0, OMIT_CLOCK);
	write_seed(argv[1], "incomplete-device", true, 0, OMIT_DEVICE);
	return 0;
}
#endif
