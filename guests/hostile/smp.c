/* The hostile guest on every vCPU at once (run with --cpus 2 or more).  Each CPU, round after
 * round, picks an attack at random and aims it at the SAME virtio-rng and virtio-blk, queue 0
 * of each: honest and broken chains pushed to the shared rings with no lock (the indices race,
 * entries overwrite each other), kicks, resets and bring-ups racing each other, queue
 * reconfiguration and stray status values, descriptor tables rewritten in a loop while the
 * device walks them.  Then the boot CPU, alone, checks that both devices come back after a
 * reset and work: random bytes, the disk's first sector, a write refused (the disk is
 * read-only) and a sector past the end refused.
 *
 * All the device may write lies in AREA, each CPU's buffers with room to spare: a descriptor
 * rewritten by another CPU halfway can pair one address with another length.  Every address a
 * CPU puts in a descriptor or a queue register is its own buffer, the queue's own ring, or
 * outside RAM; queue sizes above 16 are only ones the device refuses.  Interrupts stay off. */
#include <stdbool.h>

#include "guest.h"
#include "hostile.h"
#include "virtio.h"
#include "x86.h"

/* Each CPU's rounds: ROUNDS, and more until MIN_TICKS of TSC have passed (a few seconds
 * where exits are fast, so that the test's pauses land among them), but never past
 * MAX_ROUNDS. */
#define ROUNDS 3000
#define MIN_TICKS (1ULL << 32)
#define MAX_ROUNDS (20 * ROUNDS)
#define AREA 0x1200000ULL	/* 18 MiB: RAM nothing else uses */
#define RING_SPAN 0x4000
#define CPU_SPAN 0x10000	/* each CPU's buffers, from AREA + CPU_SPAN */
#define BUF_OFF 0x0
#define INDIRECT_OFF 0x4000
#define HDR_OFF 0x5000
#define DATA_OFF 0x6000
#define STATUS_OFF 0x8000	/* lengths stay under 8 KiB: each buffer has that much room */
#define MAX_CPUS 16
#define WAIT_TICKS (1ULL << 30)	/* about a second of TSC */

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_GET_ID 8
#define BLK_S_OK 0
#define BLK_S_IOERR 1

struct blk_req {
	uint32_t type, reserved;
	uint64_t sector;
};

struct cpu {
	unsigned index;
	uint64_t rand, base;
	uint16_t slot;		/* its first descriptor: 4 each */
};

static struct virtio_dev rng, blk;
static struct vq *const rq = (struct vq *)AREA;
static struct vq *const bq = (struct vq *)(AREA + RING_SPAN);
/* Kept apart from the rings, which a CPU zeroes while others kick. */
static volatile uint16_t *rng_notify, *blk_notify;
static uint64_t ram_end;
static unsigned nr_cpus;
static volatile unsigned cpus_ready, cpus_done;
static volatile int go;

static void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

static uint64_t next_rand(struct cpu *c)
{
	c->rand ^= c->rand << 13;
	c->rand ^= c->rand >> 7;
	c->rand ^= c->rand << 17;
	return c->rand;
}

static uint64_t buf(const struct cpu *c, unsigned off)
{
	return c->base + off;
}

/* The racing driver: no lock around the ring, as a buggy or malicious one would. */
static void push(struct vq *q, volatile uint16_t *notify, uint16_t head)
{
	q->avail.ring[q->avail.idx % VQ_SIZE] = head;
	barrier();
	q->avail.idx++;
	barrier();
	*notify = 0;
}

static void program_queue(struct virtio_dev *d, struct vq *q)
{
	*virtio_c16(d, VIRTIO_Q_SELECT) = 0;
	*virtio_c16(d, VIRTIO_Q_SIZE) = VQ_SIZE;
	virtio_c64(d, VIRTIO_Q_DESC, (uintptr_t)q->desc);
	virtio_c64(d, VIRTIO_Q_AVAIL, (uintptr_t)&q->avail);
	virtio_c64(d, VIRTIO_Q_USED, (uintptr_t)&q->used);
	*virtio_c16(d, VIRTIO_Q_ENABLE) = 1;
}

/* A reset and a bring-up while the other CPUs go on using the device. */
static void reset_and_bring_up(struct virtio_dev *d, struct vq *q)
{
	uint64_t features;

	*virtio_c8(d, VIRTIO_STATUS) = 0;
	if (!virtio_negotiate(d, 1ULL << VIRTIO_F_INDIRECT_DESC, &features))
		return;	/* another CPU's reset came between */
	q->avail.idx = 0;
	q->used.idx = 0;
	barrier();
	program_queue(d, q);
	virtio_driver_ok(d);
}

/* --- the attacks ------------------------------------------------------------------------- */

static void rng_good(struct cpu *c)
{
	rq->desc[c->slot] = (struct vq_desc){ buf(c, BUF_OFF), 64, VQ_DESC_WRITE, 0 };
	push(rq, rng_notify, c->slot);
}

static void rng_bad(struct cpu *c)
{
	struct vq_desc *d = &rq->desc[c->slot], *ind = (struct vq_desc *)buf(c, INDIRECT_OFF);
	uint16_t s = c->slot;

	switch (next_rand(c) % 8) {
	case 0:
		*d = (struct vq_desc){ ram_end - 8, 4096, VQ_DESC_WRITE, 0 };
		break;
	case 1:
		*d = (struct vq_desc){ ~0ULL - 4095, 8192, VQ_DESC_WRITE, 0 };
		break;
	case 2:		/* a loop */
		d[1] = (struct vq_desc){ buf(c, BUF_OFF), 8, VQ_DESC_WRITE | VQ_DESC_NEXT, s };
		*d = (struct vq_desc){ buf(c, BUF_OFF), 8, VQ_DESC_WRITE | VQ_DESC_NEXT,
				       (uint16_t)(s + 1) };
		break;
	case 3:
		*d = (struct vq_desc){ buf(c, BUF_OFF), 8, VQ_DESC_WRITE | VQ_DESC_NEXT, 200 };
		break;
	case 4:		/* readable after writable */
		d[1] = (struct vq_desc){ buf(c, BUF_OFF), 8, 0, 0 };
		*d = (struct vq_desc){ buf(c, BUF_OFF), 8, VQ_DESC_WRITE | VQ_DESC_NEXT,
				       (uint16_t)(s + 1) };
		break;
	case 5:		/* an endless indirect table */
		for (uint16_t i = 0; i < 4; i++)
			ind[i] = (struct vq_desc){ buf(c, BUF_OFF), 4, VQ_DESC_WRITE | VQ_DESC_NEXT,
						   (uint16_t)((i + 1) % 4) };
		*d = (struct vq_desc){ (uintptr_t)ind, 64, VQ_DESC_INDIRECT, 0 };
		break;
	case 6:
		*d = (struct vq_desc){ ram_end - 16, 64, VQ_DESC_INDIRECT, 0 };
		break;
	default:	/* an indirect table inside one */
		ind[0] = (struct vq_desc){ (uintptr_t)ind, 16, VQ_DESC_INDIRECT, 0 };
		*d = (struct vq_desc){ (uintptr_t)ind, 16, VQ_DESC_INDIRECT, 0 };
	}
	push(rq, rng_notify, s);
}

/* The ring itself: a head past the queue, or an index far ahead. */
static void ring_bad(struct cpu *c)
{
	struct vq *q = next_rand(c) & 1 ? rq : bq;
	volatile uint16_t *notify = q == rq ? rng_notify : blk_notify;

	if (next_rand(c) & 1) {
		push(q, notify, 40);
	} else {
		q->avail.idx = (uint16_t)(q->avail.idx + 100);
		barrier();
		*notify = 0;
	}
}

static void kicks(struct cpu *c)
{
	(void)c;
	for (unsigned k = 0; k < 16; k++) {
		*rng_notify = 0;
		*blk_notify = 0;
	}
}

static void rng_reset(struct cpu *c)
{
	(void)c;
	reset_and_bring_up(&rng, rq);
}

static void blk_reset(struct cpu *c)
{
	(void)c;
	reset_and_bring_up(&blk, bq);
}

/* Queue registers after DRIVER_OK (refused), or between another CPU's reset and its enable
 * (taken: the enable then breaks the device, or the queue runs smaller). */
static void reconfigure(struct cpu *c)
{
	static const uint16_t sizes[] = { 8, 4, 3, 0, 17, 512, 1024, VQ_SIZE };
	struct virtio_dev *d = next_rand(c) & 1 ? &rng : &blk;
	struct vq *q = d == &rng ? rq : bq;
	uint64_t r = next_rand(c);
	uint64_t where[] = { ram_end - 16, (uintptr_t)q->desc + 1, (uintptr_t)q->desc };

	*virtio_c16(d, VIRTIO_Q_SELECT) = (uint16_t)(r % 3);
	*virtio_c16(d, VIRTIO_Q_SIZE) = sizes[(r >> 8) % 8];
	virtio_c64(d, VIRTIO_Q_DESC, where[(r >> 16) % 3]);
	virtio_c64(d, VIRTIO_Q_AVAIL, (r >> 20) & 1 ? ram_end - 16 : (uintptr_t)&q->avail);
	virtio_c64(d, VIRTIO_Q_USED, (r >> 21) & 1 ? (uintptr_t)&q->used + 2 : (uintptr_t)&q->used);
	*virtio_c16(d, VIRTIO_Q_MSIX) = (uint16_t)(r >> 24);
	*virtio_c16(d, VIRTIO_MSIX_CONFIG) = (uint16_t)(r >> 40);
	*virtio_c16(d, VIRTIO_Q_ENABLE) = (uint16_t)((r >> 56) & 3);
	*virtio_c32(d, VIRTIO_GFSELECT) = (uint32_t)((r >> 58) & 3);
	*virtio_c32(d, VIRTIO_GF) = (uint32_t)r;
	*virtio_c32(d, VIRTIO_DFSELECT) = (uint32_t)((r >> 60) & 3);
	*virtio_c16(d, VIRTIO_Q_SELECT) = 0;
}

static void stray_status(struct cpu *c)
{
	static const uint8_t values[] = { VIRTIO_S_ACKNOWLEDGE,
		VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER, VIRTIO_S_FEATURES_OK, VIRTIO_S_DRIVER_OK,
		VIRTIO_S_NEEDS_RESET, 0x80 /* FAILED */, 0xff, 0xbf };
	struct virtio_dev *d = next_rand(c) & 1 ? &rng : &blk;

	*virtio_c8(d, VIRTIO_STATUS) = values[next_rand(c) % 8];
}

/* Descriptor tables rewritten over and over, good and bad, while the device walks them. */
static void scribble(struct cpu *c)
{
	for (unsigned k = 0; k < 8; k++) {
		for (uint16_t i = 0; i < VQ_SIZE; i++) {
			bool bad = (next_rand(c) & 3) == 0;
			uint64_t a = bad ? ram_end - 8 : buf(c, BUF_OFF);

			rq->desc[i] = (struct vq_desc){ a, 64, VQ_DESC_WRITE,
							(uint16_t)((i + 1) % VQ_SIZE) };
			bq->desc[i] = (struct vq_desc){ bad ? ram_end - 8 : buf(c, DATA_OFF), 512,
							(uint16_t)(i & 1 ? VQ_DESC_WRITE : VQ_DESC_NEXT),
							(uint16_t)((i + 1) % VQ_SIZE) };
		}
		push(rq, rng_notify, (uint16_t)(next_rand(c) % VQ_SIZE));
		push(bq, blk_notify, (uint16_t)(next_rand(c) % VQ_SIZE));
	}
}

/* Reads of everything: status, ISR (which acknowledges), the queue fields, device config. */
static void reads(struct cpu *c)
{
	struct virtio_dev *d = next_rand(c) & 1 ? &rng : &blk;
	volatile uint32_t sink = 0;

	sink += *virtio_c8(d, VIRTIO_STATUS);
	if (d->isr != 0)
		sink += *(volatile uint8_t *)d->isr;
	sink += *virtio_c16(d, VIRTIO_Q_SIZE);
	sink += *virtio_c32(d, VIRTIO_Q_DESC);
	sink += *virtio_c16(d, VIRTIO_Q_ENABLE);
	sink += *virtio_c32(d, VIRTIO_DF);
	if (d->device_cfg != 0)
		sink += *(volatile uint32_t *)d->device_cfg;
	(void)sink;
}

static void blk_chain(struct cpu *c, uint32_t type, uint64_t sector, uint64_t data,
		      uint32_t len)
{
	struct blk_req *h = (struct blk_req *)buf(c, HDR_OFF);
	uint16_t s = c->slot;

	*h = (struct blk_req){ type, 0, sector };
	*(volatile uint8_t *)buf(c, STATUS_OFF) = 0xee;
	bq->desc[s] = (struct vq_desc){ (uintptr_t)h, sizeof(*h), VQ_DESC_NEXT, (uint16_t)(s + 1) };
	bq->desc[s + 1] = (struct vq_desc){ data, len, (uint16_t)(VQ_DESC_NEXT |
					    (type == BLK_T_OUT ? 0 : VQ_DESC_WRITE)),
					    (uint16_t)(s + 2) };
	bq->desc[s + 2] = (struct vq_desc){ buf(c, STATUS_OFF), 1, VQ_DESC_WRITE, 0 };
	push(bq, blk_notify, s);
}

static void blk_good(struct cpu *c)
{
	blk_chain(c, next_rand(c) & 1 ? BLK_T_IN : BLK_T_GET_ID, 0, buf(c, DATA_OFF), 512);
}

static void blk_bad(struct cpu *c)
{
	switch (next_rand(c) % 4) {
	case 0:
		blk_chain(c, BLK_T_IN, 0, ram_end - 256, 512);
		break;
	case 1:
		blk_chain(c, BLK_T_IN, ~0ULL >> 1, buf(c, DATA_OFF), 512);
		break;
	case 2:		/* to a read-only disk */
		blk_chain(c, BLK_T_OUT, 1, buf(c, DATA_OFF), 512);
		break;
	default:	/* a header cut short */
		bq->desc[c->slot] = (struct vq_desc){ buf(c, HDR_OFF), 8, VQ_DESC_NEXT,
						      (uint16_t)(c->slot + 2) };
		push(bq, blk_notify, c->slot);
	}
}

static const struct {
	const char *name;
	void (*run)(struct cpu *c);
	unsigned weight;
} attacks[] = {
	{ "honest rng requests", rng_good, 4 },
	{ "broken rng chains", rng_bad, 3 },
	{ "broken rings", ring_bad, 1 },
	{ "kick storms", kicks, 2 },
	{ "rng resets", rng_reset, 2 },
	{ "blk resets", blk_reset, 2 },
	{ "queue reconfigurations", reconfigure, 2 },
	{ "stray status values", stray_status, 1 },
	{ "descriptor tables rewritten", scribble, 2 },
	{ "register reads", reads, 2 },
	{ "honest blk requests", blk_good, 3 },
	{ "bad blk requests", blk_bad, 2 },
};
#define NR_ATTACKS (sizeof(attacks) / sizeof(attacks[0]))
static unsigned attack_count[NR_ATTACKS], rounds_done;
static volatile uint64_t start_tsc;

static void attack_rounds(unsigned index, uint64_t start)
{
	struct cpu c = { index, 0x9e3779b97f4a7c15ULL * (index + 1), AREA + CPU_SPAN * (index + 1),
			 (uint16_t)(4 * index) };
	unsigned total = 0, round;

	for (unsigned i = 0; i < NR_ATTACKS; i++)
		total += attacks[i].weight;
	for (round = 0; round < MAX_ROUNDS && (round < ROUNDS || rdtsc() - start < MIN_TICKS);
	     round++) {
		unsigned pick = (unsigned)(next_rand(&c) % total), i = 0;

		while (pick >= attacks[i].weight)
			pick -= attacks[i++].weight;
		attacks[i].run(&c);
		__atomic_fetch_add(&attack_count[i], 1, __ATOMIC_RELAXED);
	}
	__atomic_fetch_add(&rounds_done, round, __ATOMIC_RELAXED);
}

static void ap_main(unsigned apic_id)
{
	unsigned index = __atomic_fetch_add(&cpus_ready, 1, __ATOMIC_ACQ_REL);

	(void)apic_id;
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		cpu_relax();
	attack_rounds(index, start_tsc);
	__atomic_fetch_add(&cpus_done, 1, __ATOMIC_RELEASE);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* --- afterwards, alone ------------------------------------------------------------------- */

/* Patient: the VM may be paused (the test's pause loop) while the device serves. */
static long wait_used(struct vq *q)
{
	long len = -1;

	for (unsigned tries = 0; tries < 30 && len < 0; tries++)
		len = vq_wait_used(q);
	return len;
}

static bool bring_up_alone(struct virtio_dev *d, struct vq *q)
{
	uint64_t features;

	*virtio_c8(d, VIRTIO_STATUS) = 0;
	if (*virtio_c8(d, VIRTIO_STATUS) != 0 ||
	    !virtio_negotiate(d, 1ULL << VIRTIO_F_INDIRECT_DESC, &features))
		return false;
	virtio_queue_setup(d, q, 0);
	virtio_driver_ok(d);
	return *virtio_c8(d, VIRTIO_STATUS) == (VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER |
						VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
}

static unsigned blk_alone(const struct cpu *c, uint32_t type, uint64_t sector)
{
	volatile uint8_t *status = (volatile uint8_t *)buf(c, STATUS_OFF);
	struct blk_req *h = (struct blk_req *)buf(c, HDR_OFF);

	*h = (struct blk_req){ type, 0, sector };
	*status = 0xee;
	bq->desc[0] = (struct vq_desc){ (uintptr_t)h, sizeof(*h), VQ_DESC_NEXT, 1 };
	bq->desc[1] = (struct vq_desc){ buf(c, DATA_OFF), 512, (uint16_t)(VQ_DESC_NEXT |
					(type == BLK_T_OUT ? 0 : VQ_DESC_WRITE)), 2 };
	bq->desc[2] = (struct vq_desc){ buf(c, STATUS_OFF), 1, VQ_DESC_WRITE, 0 };
	vq_make_available(bq, 0);
	return wait_used(bq) < 0 ? 0xef : *status;
}

static unsigned check_devices(void)
{
	static const char want[] = "hopvm hostile disk";
	const struct cpu c = { 0, 0, AREA + CPU_SPAN, 0 };
	uint8_t *bytes = (uint8_t *)buf(&c, BUF_OFF), *data = (uint8_t *)buf(&c, DATA_OFF);
	unsigned failures = 0, nonzero = 0, same = 1;
	long len;

	if (!bring_up_alone(&rng, rq)) {
		serial_printf("hostile: FAIL: virtio-rng does not come back after a reset\n");
		return 1;
	}
	for (unsigned i = 0; i < 64; i++)
		bytes[i] = 0;
	rq->desc[0] = (struct vq_desc){ (uintptr_t)bytes, 64, VQ_DESC_WRITE, 0 };
	vq_make_available(rq, 0);
	len = wait_used(rq);
	for (unsigned i = 0; i < 64; i++)
		nonzero += bytes[i] != 0;
	if (len != 64 || nonzero == 0) {
		serial_printf("hostile: FAIL: virtio-rng gave %ld bytes after the reset\n", len);
		failures++;
	}
	if (!bring_up_alone(&blk, bq)) {
		serial_printf("hostile: FAIL: virtio-blk does not come back after a reset\n");
		return failures + 1;
	}
	if (blk_alone(&c, BLK_T_IN, 0) != BLK_S_OK) {
		serial_printf("hostile: FAIL: virtio-blk cannot read sector 0 after the reset\n");
		failures++;
	}
	for (unsigned i = 0; i < sizeof(want) - 1; i++)
		same &= data[i] == (uint8_t)want[i];
	if (!same) {
		serial_printf("hostile: FAIL: sector 0 does not hold what the test wrote\n");
		failures++;
	}
	if (blk_alone(&c, BLK_T_OUT, 1) != BLK_S_IOERR ||
	    blk_alone(&c, BLK_T_IN, ~0ULL >> 1) != BLK_S_IOERR) {
		serial_printf("hostile: FAIL: virtio-blk took a write or a sector past its end\n");
		failures++;
	}
	return failures;
}

unsigned hostile_smp(uint64_t ram, const uint8_t *apic_ids, unsigned n)
{
	unsigned failures;

	ram_end = ram;
	nr_cpus = n < MAX_CPUS ? n : MAX_CPUS;
	if (!virtio_find(&rng, HOSTILE_RNG_ID) || !virtio_find(&blk, HOSTILE_BLK_ID)) {
		serial_printf("hostile: FAIL: the SMP attacks need virtio-rng and virtio-blk "
			      "(--disk IMAGE,ro)\n");
		return 1;
	}
	if (!bring_up_alone(&rng, rq) || !bring_up_alone(&blk, bq)) {
		serial_printf("hostile: FAIL: the devices do not come up\n");
		return 1;
	}
	rng_notify = rq->notify;
	blk_notify = bq->notify;
	cpus_ready = 1;
	for (unsigned i = 1; i < nr_cpus; i++)
		ap_start(apic_ids[i], ap_main);
	while (__atomic_load_n(&cpus_ready, __ATOMIC_ACQUIRE) < nr_cpus)
		cpu_relax();
	serial_printf("hostile: %u vCPUs attack virtio-rng and virtio-blk at once, %u rounds "
		      "each or more\n", nr_cpus, ROUNDS);
	start_tsc = rdtsc();
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	attack_rounds(0, start_tsc);
	while (__atomic_load_n(&cpus_done, __ATOMIC_ACQUIRE) < nr_cpus - 1)
		cpu_relax();
	for (unsigned i = 0; i < NR_ATTACKS; i++)
		serial_printf("hostile:   %u %s\n", attack_count[i], attacks[i].name);
	serial_printf("hostile: %u rounds done on %u vCPUs\n", rounds_done, nr_cpus);
	failures = check_devices();
	if (failures == 0)
		serial_printf("hostile: virtio-rng and virtio-blk work after a reset, a write "
			      "and a sector past the end refused\n");
	return failures;
}
